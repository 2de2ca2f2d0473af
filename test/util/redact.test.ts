import { describe, expect, it } from "vitest";
import { EntraSyncError, toEntraSyncError } from "../../src/errors.js";
import { renderAlert } from "../../src/mail/templates.js";
import { addError, newReport } from "../../src/runs/report.js";
import { boundText, redact, registerSecret } from "../../src/util/redact.js";
import { echoForms, leaksIn } from "../support/leaks.js";

// Shaped like an Entra client secret: 40 characters with `~`, `.`, `_` and `-` (plus a `+` and a `/` to be strict).
const SECRET = "Xq8Q~abc.DEFghij_klMNop-qrST+uvwx/YZ01234";
const UNKNOWN = "Zz9Q~unregistered.secret_value-0123456789";

describe("redact", () => {
  registerSecret(SECRET);

  it("finds a known secret in every form an upstream service echoes it", () => {
    for (const [name, text] of Object.entries(echoForms(SECRET))) {
      const wrapped = `Upstream said: ${text} (trace 1234)`;
      expect(leaksIn(wrapped, [SECRET]), `${name} is seen before`).toEqual([SECRET]);
      expect(leaksIn(redact(wrapped), [SECRET]), name).toEqual([]);
      expect(redact(wrapped), name).toContain("(trace 1234)");
    }
  });

  it("finds a known secret inside base64 at every byte offset, in both alphabets and split into 76 columns", () => {
    for (let pad = 0; pad < 6; pad++) {
      const raw = `${"p".repeat(pad)}${SECRET}tail`;
      for (const b of [Buffer.from(raw).toString("base64"), Buffer.from(raw).toString("base64url"), Buffer.from(raw.repeat(3)).toString("base64").replace(/.{76}/g, "$&\n")]) {
        expect(leaksIn(b, [SECRET])).toEqual([SECRET]);
        expect(leaksIn(redact(b), [SECRET]), `offset ${pad}: ${b}`).toEqual([]);
      }
    }
  });

  it("masks credentials it does not know by their shape", () => {
    const cases = [
      `client_id=abc&client_secret=${encodeURIComponent(UNKNOWN)}&grant_type=client_credentials`,
      `{"client_secret":"${UNKNOWN}"}`,
      JSON.stringify(JSON.stringify({ client_assertion: UNKNOWN })),
      `Authorization: Bearer ${UNKNOWN}`,
      JSON.stringify({ authorization: `Bearer ${UNKNOWN}` }).replace(/[^A-Za-z0-9{}":,]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`),
      `DefaultEndpointsProtocol=https;AccountName=a;AccountKey=${UNKNOWN};EndpointSuffix=core.windows.net`,
      `https://a.queue.core.windows.net/q?sv=2022-11-02&sig=${encodeURIComponent(UNKNOWN)}&se=2026`,
      `QueueEndpoint=https://a/;SharedAccessSignature=sv=2022&sig=${UNKNOWN}`,
      Buffer.from(`grant_type=client_credentials&client_secret=${UNKNOWN}&scope=x`).toString("base64").replace(/.{20}/g, "$&\r\n"),
    ];
    for (const c of cases) {
      expect(leaksIn(c, [UNKNOWN])).toEqual([UNKNOWN]);
      expect(leaksIn(redact(c), [UNKNOWN]), c).toEqual([]);
    }
    expect(redact("eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJl in the header")).toBe("[redacted] in the header");
  });

  it("leaves ordinary operator text alone", () => {
    const text = "Entra rejected the client secret of tenant 0f1e2d3c-0000-4000-8000-000000000001 as invalid (AADSTS7000215). Run `entra-sync secret set --tenant x --expires <YYYY-MM-DD> --from-stdin`.";
    expect(redact(text)).toBe(text);
  });

  it("caps long text and says how much was cut", () => {
    const long = `${"x".repeat(17_000)} client_secret=${SECRET}`;
    const out = boundText(long);
    expect(out.length).toBeLessThan(2_100);
    expect(out).toMatch(/… \(15\d{3} characters cut\)$/);
    expect(leaksIn(boundText(`${SECRET.slice(0, 20)}\n${SECRET.slice(20)}${"y".repeat(3000)}`), [SECRET])).toEqual([]);
  });

  it("every error, report entry and mail passes the redactor: messages, causes and stacks", () => {
    const upstream = new Error(`token endpoint said: ${new URLSearchParams({ client_secret: SECRET }).toString()}`, { cause: new Error(`inner ${Buffer.from(SECRET).toString("base64")}`) });
    const err = new EntraSyncError("GRAPH_REQUEST_FAILED", `Graph refused: ${upstream.message} ${"x".repeat(5_000)}`, { cause: upstream });
    const wrapped = toEntraSyncError(new Error(`plain ${SECRET}`));
    const report = newReport({ runId: "r", tenantId: "t", tenantName: "n", trigger: "manual", mode: "full", dryRun: false, now: new Date(0) });
    addError(report, "X", `split ${SECRET.slice(0, 10)}\n${SECRET.slice(10)}`);
    const mail = renderAlert({ kind: "authFailure", locale: "en", schoolName: `School ${SECRET}`, tenantId: "t", clientId: "c", cause: "AUTH_SECRET_INVALID" });
    const texts = [err.message, err.stack ?? "", upstream.message, upstream.stack ?? "", String((upstream.cause as Error).message), wrapped.message, JSON.stringify(report), mail.subject, mail.text, mail.html];
    for (const t of texts) expect(leaksIn(t, [SECRET]), t.slice(0, 200)).toEqual([]);
    expect(err.message).toMatch(/characters cut\)$/);
    expect(err.code).toBe("GRAPH_REQUEST_FAILED");
  });
});
