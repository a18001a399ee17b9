/**
 * A job as its org sees it (GET /v1/jobs/{job_id}): BullMQ's states folded into four, the
 * progress in percent and the result once completed. Readable by HTTP (no processor here).
 */
import type { Job } from "bullmq";

export type JobStatus = "queued" | "running" | "completed" | "failed";

export interface JobView {
  status: JobStatus;
  /** 0..100. */
  progress: number;
  /** The processor's result once completed; null before and on failure. */
  result: Record<string, unknown> | null;
}

/**
 * BullMQ states: `waiting`, `prioritized`, `delayed` (a retry waiting out its backoff counts as
 * queued: it will run again) and `waiting-children` are queued; `active` is running; `completed`
 * and `failed` (no attempts left) are final. `unknown` (removed meanwhile) is reported as failed.
 */
export function jobStatusOf(state: string): JobStatus {
  switch (state) {
    case "active":
      return "running";
    case "completed":
      return "completed";
    case "waiting":
    case "prioritized":
    case "delayed":
    case "waiting-children":
      return "queued";
    default:
      return "failed";
  }
}

/**
 * The view of `job` in `state`. Read the state first and the job after it: completion writes the
 * result and the state in one step, so a job read before its state may lack a result it has.
 */
export function viewJob(job: Job, state: string): JobView {
  const status = jobStatusOf(state);
  const progress = typeof job.progress === "number" ? job.progress : 0;
  const value: unknown = job.returnvalue;
  const result =
    status === "completed" && typeof value === "object" && value !== null
      ? (value as Record<string, unknown>)
      : null;
  return {
    status,
    progress: status === "completed" ? 100 : Math.max(0, Math.min(100, Math.round(progress))),
    result,
  };
}
