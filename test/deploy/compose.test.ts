/**
 * Every compose file in the repository root, read as YAML (with merge keys, as Compose reads
 * them), checked for what breaks a stack without any error until it runs: two services on one
 * host port, images that float, variables the service needs and does not get (or gets under a
 * misspelt name), a schema nobody migrates, and a TB_ADDRESS that does not name every
 * TigerBeetle replica the way the replicas were formatted and started.
 */
import { readdirSync, readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configVariables, loadConfig } from "../../src/config.ts";
import { repoRoot } from "../support/service-process.ts";

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<
    | string
    | number
    | { target: number; published?: string | number; host_ip?: string; protocol?: string }
  >;
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  depends_on?: string[] | Record<string, { condition?: string }>;
}

interface ComposeFile {
  services: Record<string, Service>;
  networks?: Record<string, { ipam?: { config?: Array<{ subnet?: string }> } } | null>;
}

const tigerbeetleImage = "ghcr.io/tigerbeetle/tigerbeetle";
const composeFiles = readdirSync(repoRoot)
  .filter((name) => /^(docker-)?compose(\.[a-z0-9-]+)?\.ya?ml$/.test(name))
  .sort();
const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};

function read(file: string): ComposeFile {
  return parse(readFileSync(join(repoRoot, file), "utf8"), { merge: true }) as ComposeFile;
}

interface Binding {
  hostIp: string;
  hostPort: number;
  protocol: string;
}

/** Host bindings of one `ports` entry; a bare container port binds an ephemeral one (none). */
function bindings(entry: NonNullable<Service["ports"]>[number]): Binding[] {
  if (typeof entry === "object") {
    if (entry.published === undefined) {
      return [];
    }
    return portRange(String(entry.published)).map((hostPort) => ({
      hostIp: entry.host_ip ?? "0.0.0.0",
      hostPort,
      protocol: entry.protocol ?? "tcp",
    }));
  }
  const [spec = "", protocol = "tcp"] = String(entry).split("/");
  const parts = spec.split(":");
  if (parts.length === 1) {
    return [];
  }
  const hostIp = parts.length === 3 ? (parts[0] ?? "") : "0.0.0.0";
  const hostPorts = parts.length === 3 ? parts[1] : parts[0];
  return portRange(hostPorts ?? "").map((hostPort) => ({ hostIp, hostPort, protocol }));
}

function portRange(text: string): number[] {
  const [first = "", last = first] = text.split("-");
  const ports: number[] = [];
  for (let port = Number(first); port <= Number(last); port += 1) {
    ports.push(port);
  }
  expect(ports.length, `port range ${text}`).toBeGreaterThan(0);
  return ports;
}

function clashes(a: Binding, b: Binding): boolean {
  return (
    a.hostPort === b.hostPort &&
    a.protocol === b.protocol &&
    (a.hostIp === b.hostIp || a.hostIp === "0.0.0.0" || b.hostIp === "0.0.0.0")
  );
}

/** `name[:tag][@digest]` → the tag, or undefined when there is none. */
function imageTag(image: string): string | undefined {
  const withoutDigest = image.split("@")[0] ?? "";
  const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf("/") + 1);
  const colon = lastSegment.indexOf(":");
  return colon === -1 ? undefined : lastSegment.slice(colon + 1);
}

/** The environment as a map; list entries `K=V` and bare `K` (taken from the shell). */
function environmentOf(service: Service): Record<string, string> {
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    return Object.fromEntries(
      raw.map((entry) => {
        const equals = entry.indexOf("=");
        return equals === -1
          ? [entry, `\${${entry}}`]
          : [entry.slice(0, equals), entry.slice(equals + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, String(value ?? "")]));
}

/**
 * The value the service would see, with `${VAR:-default}` taken as its default and a variable the
 * operator must supply (`${VAR:?message}`, `${VAR}`) replaced by `supplied(VAR)`.
 */
function interpolate(value: string, supplied: (variable: string) => string): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}/g,
    (_, name, kind, rest) => (kind === "-" ? rest : supplied(name)),
  );
}

/** A valid stand-in for a value the operator supplies: a 32-byte key for the secrets. */
function suppliedByOperator(): string {
  return Buffer.alloc(32, 1).toString("base64");
}

function commandText(service: Service): string {
  return Array.isArray(service.command) ? service.command.join(" ") : (service.command ?? "");
}

/** Services built from this repository (the Dockerfile): the service and its migrate step. */
function ourServices(file: ComposeFile): Array<[string, Service]> {
  return Object.entries(file.services).filter(([, service]) => service.build !== undefined);
}

function ipv4Of(service: Service): string | undefined {
  const networks = service.networks;
  if (networks === undefined || Array.isArray(networks)) {
    return undefined;
  }
  return Object.values(networks).find((network) => network?.ipv4_address !== undefined)
    ?.ipv4_address;
}

function ipToNumber(ip: string): number {
  return ip.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
}

function inSubnet(ip: string, subnet: string): boolean {
  const [base = "", bits = "32"] = subnet.split("/");
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipToNumber(ip) / size) === Math.floor(ipToNumber(base) / size);
}

function flagValue(text: string, flag: string): string | undefined {
  return new RegExp(`${flag}=([^\\s]+)`).exec(text)?.[1];
}

it("finds the compose files: the single-replica stack and the 3-replica cluster", () => {
  expect(composeFiles).toEqual(
    expect.arrayContaining(["docker-compose.yml", "docker-compose.cluster.yml"]),
  );
});

describe.each(composeFiles)("%s", (fileName) => {
  const file = read(fileName);
  const services = Object.entries(file.services);
  const replicas = services.filter(([, service]) =>
    service.image?.startsWith(`${tigerbeetleImage}:`),
  );
  const [server] = ourServices(file).filter(
    ([, service]) => !commandText(service).includes("dist/migrate.js"),
  );

  it("publishes no host address and port twice", () => {
    const published = services.flatMap(([name, service]) =>
      (service.ports ?? []).flatMap(bindings).map((binding) => ({ name, binding })),
    );
    for (const [index, a] of published.entries()) {
      for (const b of published.slice(index + 1)) {
        expect(
          clashes(a.binding, b.binding),
          `${a.name} and ${b.name} both publish ${b.binding.hostIp}:${b.binding.hostPort}`,
        ).toBe(false);
      }
    }
  });

  it("pins every image to an exact version, TigerBeetle to the client's", () => {
    for (const [name, service] of services) {
      if (service.image === undefined) {
        expect(service.build, `${name} has neither image nor build`).toBeDefined();
        continue;
      }
      const tag = imageTag(service.image);
      if (service.image.includes("@sha256:")) {
        continue;
      }
      // major.minor at least (postgres 16.11, redis 7.4.6): never absent, `latest` or a bare major.
      expect(tag, `${name}: ${service.image}`).toMatch(
        /^v?[0-9]+\.[0-9]+(\.[0-9]+)*(-[a-z0-9.]+)*$/,
      );
    }
    for (const [, replica] of replicas) {
      expect(imageTag(replica.image ?? "")).toBe(manifest.dependencies["tigerbeetle-node"]);
    }
  });

  it("gives the service every variable it needs, under names it reads", () => {
    expect(server, "a service built from the Dockerfile that runs the server").toBeDefined();
    for (const [name, service] of ourServices(file)) {
      const env = environmentOf(service);
      for (const variable of Object.keys(env)) {
        expect(configVariables, `${name}: ${variable} is not read by src/config.ts`).toContain(
          variable,
        );
      }
      // Parses as the service would parse it: the configuration error lists any bad value.
      const resolved = Object.fromEntries(
        Object.entries(env).map(([key, value]) => [key, interpolate(value, suppliedByOperator)]),
      );
      expect(() => loadConfig(resolved), name).not.toThrow();
    }
    const [, app] = server ?? ["", {}];
    const config = loadConfig(
      Object.fromEntries(
        Object.entries(environmentOf(app)).map(([key, value]) => [
          key,
          interpolate(value, suppliedByOperator),
        ]),
      ),
    );
    // Production refuses to generate keys, and the defaults point at 127.0.0.1 inside the
    // container: the keys, Postgres, Redis and the ledger must all be given.
    expect(config.nodeEnv).toBe("production");
    expect(Object.values(config.secrets).every((key) => key !== undefined)).toBe(true);
    expect(config.ledger.address, "TB_ADDRESS").toBeDefined();
    const imageOf = (host: string) => file.services[host]?.image ?? "";
    expect(imageOf(new URL(config.postgres.url).hostname)).toMatch(/^postgres:/);
    expect(imageOf(new URL(config.redis.url).hostname)).toMatch(/^redis:/);
  });

  it("migrates the schema before the service starts", () => {
    const [, app] = server ?? ["", {}];
    const env = environmentOf(app);
    const config = loadConfig(
      Object.fromEntries(
        Object.entries(env).map(([key, value]) => [key, interpolate(value, suppliedByOperator)]),
      ),
    );
    if (config.postgres.migrateOnStart) {
      return;
    }
    const dependsOn = Array.isArray(app.depends_on) ? {} : (app.depends_on ?? {});
    const migrators = Object.entries(dependsOn).filter(
      ([name, dependency]) =>
        dependency.condition === "service_completed_successfully" &&
        commandText(file.services[name] ?? {}).includes("dist/migrate.js"),
    );
    expect(migrators.map(([name]) => name)).toHaveLength(1);
    const [migratorName = ""] = migrators.map(([name]) => name);
    // The same database the service opens.
    expect(environmentOf(file.services[migratorName] ?? {}).DATABASE_URL).toBe(env.DATABASE_URL);
  });

  it("names every TigerBeetle replica in TB_ADDRESS, as the replicas were formatted and started", () => {
    const [, app] = server ?? ["", {}];
    const config = loadConfig(
      Object.fromEntries(
        Object.entries(environmentOf(app)).map(([key, value]) => [
          key,
          interpolate(value, suppliedByOperator),
        ]),
      ),
    );
    expect(replicas.length).toBeGreaterThanOrEqual(1);
    const subnets = Object.values(file.networks ?? {}).flatMap(
      (network) => network?.ipam?.config?.map((entry) => entry.subnet ?? "") ?? [],
    );
    const clientAddresses: string[] = [];
    const startAddresses = new Set<string>();
    const indices: number[] = [];
    for (const [name, replica] of replicas) {
      const command = commandText(replica);
      const format = /tigerbeetle format ([^\n]*)/.exec(command)?.[1] ?? "";
      const start = /tigerbeetle start ([^\n]*)/.exec(command)?.[1] ?? "";
      expect(flagValue(format, "--cluster"), name).toBe(String(config.ledger.clusterId));
      expect(flagValue(format, "--replica-count"), name).toBe(String(replicas.length));
      const index = Number(flagValue(format, "--replica"));
      indices.push(index);
      const addresses = (flagValue(start, "--addresses") ?? "").split(",");
      expect(addresses, name).toHaveLength(replicas.length);
      startAddresses.add(addresses.join(","));
      // A replica listens on the address at its own index: its fixed IP, or every interface.
      const [host = "", port = ""] = (addresses[index] ?? "").split(":");
      const ip = ipv4Of(replica);
      expect(ip !== undefined && isIPv4(ip), `${name} has a fixed IPv4 address`).toBe(true);
      expect(
        subnets.some((subnet) => inSubnet(ip ?? "", subnet)),
        `${name}: ${ip} in ${subnets}`,
      ).toBe(true);
      expect(["0.0.0.0", ip]).toContain(host);
      clientAddresses[index] = `${ip}:${port}`;
    }
    expect([...indices].sort()).toEqual(replicas.map((_, index) => index));
    // Every replica is started with the same list, and the client gets that list in that order.
    expect(startAddresses.size).toBe(1);
    expect(config.ledger.address).toEqual(clientAddresses);
  });
});

it("runs the cluster as two API and two worker processes with the same environment", () => {
  const file = read("docker-compose.cluster.yml");
  const byRole = (role: string) =>
    ourServices(file).filter(([, service]) => {
      const command = Array.isArray(service.command) ? service.command : [];
      return command.includes("dist/main.js") && command[command.length - 1] === role;
    });
  const apis = byRole("api");
  const workers = byRole("workers");
  expect(apis).toHaveLength(2);
  expect(workers).toHaveLength(2);
  const environments = [...apis, ...workers].map(([, service]) =>
    JSON.stringify(environmentOf(service)),
  );
  expect(new Set(environments).size).toBe(1);
  // Workers publish nothing: only the API answers outside the network.
  expect(workers.every(([, service]) => (service.ports ?? []).length === 0)).toBe(true);
});
