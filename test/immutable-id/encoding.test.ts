import { describe, expect, it } from "vitest";
import { encodeImmutableId, guidToBytes, guidToImmutableId, refusalOf } from "../../src/immutable-id/encoding.js";
import { planToCsv } from "../../src/immutable-id/plan.js";
import { capOf } from "../../src/immutable-id/planner.js";
import { DEFAULT_IMMUTABLE_ID } from "../../src/tenants/model.js";

describe("ImmutableId encoding", () => {
  // Expected values printed by .NET 10: new Guid(s).ToByteArray() and Convert.ToBase64String.
  it("guid: Microsoft byte order like .NET Guid.ToByteArray(), then base64", () => {
    expect(Buffer.from(guidToBytes("00112233-4455-6677-8899-aabbccddeeff")!).toString("hex")).toBe("33221100554477668899aabbccddeeff");
    expect(guidToImmutableId("00112233-4455-6677-8899-aabbccddeeff")).toBe("MyIRAFVEd2aImaq7zN3u/w==");
    expect(guidToImmutableId("7d9f7b7c-5a0a-4f1e-9d2c-3e4f5a6b7c8d")).toBe("fHuffQpaHk+dLD5PWmt8jQ==");
    expect(encodeImmutableId("{7D9F7B7C-5A0A-4F1E-9D2C-3E4F5A6B7C8D}", "guid")).toEqual({ ok: true, value: "fHuffQpaHk+dLD5PWmt8jQ==" });
    expect(encodeImmutableId("not-a-guid", "guid")).toMatchObject({ ok: false, reason: "valueNotAllowed" });
  });
  it("base64 of UTF-8 and raw", () => {
    expect(encodeImmutableId("åsa@skolan.se", "base64")).toEqual({ ok: true, value: Buffer.from("åsa@skolan.se", "utf8").toString("base64") });
    expect(encodeImmutableId(" anna@skolan.se ", "raw")).toEqual({ ok: true, value: "anna@skolan.se" });
  });
  it("refuses what Entra refuses, before any write", () => {
    expect(encodeImmutableId("", "raw")).toMatchObject({ ok: false, reason: "emptySource" });
    expect(encodeImmutableId(undefined, "base64")).toMatchObject({ ok: false, reason: "emptySource" });
    expect(encodeImmutableId("a_b", "raw")).toMatchObject({ ok: false, reason: "valueNotAllowed" });
    expect(encodeImmutableId("a$b", "raw")).toMatchObject({ ok: false, reason: "valueNotAllowed" });
    expect(encodeImmutableId("x".repeat(59), "raw")).toMatchObject({ ok: true });
    expect(encodeImmutableId("x".repeat(60), "raw")).toMatchObject({ ok: false, reason: "valueNotAllowed" });
    // 43 bytes of source become 60 base64 characters: over Entra Connect's limit
    expect(encodeImmutableId("y".repeat(42), "base64")).toMatchObject({ ok: true });
    expect(encodeImmutableId("y".repeat(43), "base64")).toMatchObject({ ok: false, reason: "valueNotAllowed" });
    expect(refusalOf("with space")).toBeDefined();
    expect(refusalOf("åsa")).toBeDefined();
  });
  it("cap: the lower of count and percentage", () => {
    expect(capOf({ ...DEFAULT_IMMUTABLE_ID, maxWritesPerRun: 500, maxPercentPerRun: 10 }, 2000)).toBe(200);
    expect(capOf({ ...DEFAULT_IMMUTABLE_ID, maxWritesPerRun: 500, maxPercentPerRun: 10 }, 100_000)).toBe(500);
  });
  it("CSV keeps values exact and quotes what needs it", () => {
    const csv = planToCsv([{ entraId: "1", userPrincipalName: 'a,"b"@x', value: "+/8=", platformUserId: "p", action: "switchUpn" }]);
    expect(csv).toBe(`entraId,userPrincipalName,onPremisesImmutableId,platformUserId,action\r\n1,"a,""b""@x",+/8=,p,switchUpn\r\n`);
  });
});
