import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.ts";

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error;
    }
    throw error;
  }
  throw new Error("expected loadConfig to reject the environment");
}

describe("loadConfig", () => {
  it("uses the documented defaults for an empty environment", () => {
    const config = loadConfig({});
    expect(config.nodeEnv).toBe("development");
    expect(config.log.level).toBe("info");
    expect(config.ledger).toEqual({ clusterId: 0n, dataFile: "./data/ledger.tb" });
    expect(config.ledger.address).toBeUndefined();
  });

  it("treats empty variables as unset", () => {
    const config = loadConfig({ TB_ADDRESS: "", TB_CLUSTER_ID: "", LEDGER_DATA_FILE: "" });
    expect(config.ledger).toEqual({ clusterId: 0n, dataFile: "./data/ledger.tb" });
  });

  it("parses the cluster id as a u128 bigint, beyond Number's safe range", () => {
    const clusterId = 2n ** 128n - 1n;
    const config = loadConfig({ TB_CLUSTER_ID: clusterId.toString() });
    expect(config.ledger.clusterId).toBe(clusterId);
  });

  it("names a bad TB_CLUSTER_ID in the error", () => {
    for (const bad of ["-1", "1.5", "abc", "0x10", (2n ** 128n).toString()]) {
      const error = configError({ TB_CLUSTER_ID: bad });
      expect(error.variables).toEqual(["TB_CLUSTER_ID"]);
      expect(error.message).toContain("TB_CLUSTER_ID");
    }
  });

  it("splits TB_ADDRESS on commas and trims each address", () => {
    const config = loadConfig({ TB_ADDRESS: "3000, 127.0.0.1:3001 ,[::1]:3002,10.0.0.7" });
    expect(config.ledger.address).toEqual(["3000", "127.0.0.1:3001", "[::1]:3002", "10.0.0.7"]);
  });

  it("refuses host names and bad ports in TB_ADDRESS, naming the address", () => {
    for (const bad of ["tigerbeetle:3000", "127.0.0.1:0", "70000", "::1", "1,2,3,4,5,6,7"]) {
      const error = configError({ TB_ADDRESS: bad });
      expect(error.variables[0]).toBe("TB_ADDRESS");
    }
    expect(configError({ TB_ADDRESS: "3000,tigerbeetle:3000" }).message).toContain(
      "tigerbeetle:3000",
    );
  });

  it("reports every bad variable at once", () => {
    const error = configError({
      NODE_ENV: "staging",
      LOG_LEVEL: "verbose",
      TB_CLUSTER_ID: "x",
      TB_ADDRESS: "db:1",
    });
    expect([...error.variables].sort()).toEqual([
      "LOG_LEVEL",
      "NODE_ENV",
      "TB_ADDRESS",
      "TB_CLUSTER_ID",
    ]);
  });
});
