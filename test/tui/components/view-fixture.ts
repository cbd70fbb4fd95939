/** The view the component tests render: three flows with known totals and rates. */
import type { HeaderInput } from "../../../src/tui/components/header.ts";
import { trafficTotals } from "../../../src/tui/model/top-view.ts";
import { stat } from "../flow-fixtures.ts";

export const flows = [
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40001, dstPort: 5001, bytes: 312600, packets: 300 }, [156300, 31260, 7815]),
  stat({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40002, dstPort: 5002, bytes: 24200, packets: 100 }, [12100, 2420, 605]),
  stat({ src: "fd00::1", dst: "fd00::2", srcPort: 40003, dstPort: 443, protocol: 6, tcpFlags: 0x1b, bytes: 1500, packets: 12, direction: "ingress" }, [750, 150, 37.5]),
];

export const header: Omit<HeaderInput, "state"> = {
  host: "node-1",
  source: "local",
  interfaces: ["lo", "eth0"],
  intervalMs: 1000,
  counters: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 0 },
  totals: trafficTotals(flows),
  shownRows: 3,
  nowMs: Date.UTC(2026, 0, 2, 3, 4, 5),
};

export const noNames = () => undefined;
