// Kafka implementation of the bus (kafkajs). Filled in by the platform work; see types.ts for the contract.
import { SigilError } from "../errors.ts";
import type { BusConfig } from "../config/schema.ts";
import type { Bus } from "./types.ts";

export class KafkaBus {
  static async connect(_cfg: BusConfig): Promise<Bus> {
    throw new SigilError("bus_unavailable", "the Kafka bus is not available in this build");
  }
}
