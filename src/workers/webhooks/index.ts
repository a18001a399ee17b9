/**
 * The webhooks stream of the workers: the `events` handler that fans an event out to the org's
 * webhooks, and the `webhooks` queue's processor (one delivery attempt per job, or the sweep).
 */
import { UnrecoverableError } from "bullmq";
import { outboxTopicNames } from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";
import type { EventHandler } from "../events/handlers.ts";
import type { QueueProcessor } from "../processors.ts";
import { jobSchemas } from "../queues.ts";
import type { DeliverDeps, ScheduleWakeup } from "./deliver.ts";
import { DeadDeliveryError, deliverWebhook, wakeupJobId } from "./deliver.ts";
import { fanOutWebhooks } from "./fan-out.ts";
import { wakeOverdueDeliveries } from "./sweep.ts";

/** The `webhooks` job name of a delivery attempt, and of the sweep tick. */
export const deliverJobName = "deliver";
export const sweepJobName = "sweep";

function scheduleWakeupOn(deps: WorkerDeps): ScheduleWakeup {
  return async (wake, delayMs) => {
    await deps.producer.add(
      "webhooks",
      { orgId: wake.orgId, deliveryId: wake.deliveryId },
      {
        name: deliverJobName,
        jobId: wakeupJobId(wake.deliveryId, wake.wakeup),
        ...(delayMs > 0 ? { delay: Math.ceil(delayMs) } : {}),
      },
    );
  };
}

function deliverDeps(deps: WorkerDeps): DeliverDeps {
  return {
    ...deps,
    options: {
      nodeEnv: deps.options.nodeEnv,
      webhookAllowPrivate: deps.options.webhookAllowPrivate,
      webhookRetryDelaysMs: deps.options.webhookRetryDelaysMs ?? [],
    },
    scheduleWakeup: scheduleWakeupOn(deps),
    delivery: deps.webhookDelivery,
  };
}

export const webhookFanOut: EventHandler = {
  name: "webhooks",
  topics: outboxTopicNames,
  async handle(deps, event) {
    await fanOutWebhooks(deliverDeps(deps), event);
  },
};

export const webhookProcessor: QueueProcessor = {
  async process(job, deps) {
    const data = jobSchemas.webhooks.parse(job.data);
    if (job.name === sweepJobName) {
      return { woken: await wakeOverdueDeliveries(deliverDeps(deps)) };
    }
    if (data.deliveryId === undefined) {
      throw new UnrecoverableError(`webhooks job ${job.name} names no delivery`);
    }
    try {
      return { outcome: await deliverWebhook(deliverDeps(deps), data.deliveryId) };
    } catch (error) {
      if (error instanceof DeadDeliveryError) {
        // Straight to the failed set (no queue retries): listed there, retried from there.
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
  },
};
