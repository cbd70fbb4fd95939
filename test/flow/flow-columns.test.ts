/** FlowColumns built from objects (src/flow/flow-columns.ts): every field read back as it went in. */
import { expect, test } from "bun:test";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { randomFlows, udpFlow } from "../api/flow-fixtures.ts";

test("fromRecords → records(): 500 random flows come back field for field", () => {
  const flows = randomFlows(500, 3);
  expect(FlowColumns.fromRecords(flows).records()).toEqual(flows);
});

test("one ifindex with several names (decoded pbflow carries names, no ifindex): each row keeps its own", () => {
  const flows = [udpFlow({ ifindex: 0, interface: "eth0" }), udpFlow({ ifindex: 0, interface: "veth-a" }), udpFlow({ ifindex: 0, interface: "eth0" })];
  const columns = FlowColumns.fromRecords(flows);
  expect([0, 1, 2].map((i) => columns.interfaceName(i))).toEqual(["eth0", "veth-a", "eth0"]);
});
