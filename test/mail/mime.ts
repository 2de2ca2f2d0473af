/** A small MIME reader for tests: headers (unfolded, encoded words decoded) and the text/plain and text/html parts. */
export interface ParsedMail {
  headers: Map<string, string>;
  text: string;
  html: string;
}

function decodeWords(v: string): string {
  return v.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=\s*(?==\?)?/g, (_m, _cs: string, enc: string, data: string) => {
    if (enc.toUpperCase() === "B") return Buffer.from(data, "base64").toString("utf8");
    const bytes = data.replace(/_/g, " ").replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  });
}

function split(raw: string): { headers: Map<string, string>; body: string } {
  const i = raw.search(/\r?\n\r?\n/);
  const head = raw.slice(0, i).replace(/\r?\n[ \t]+/g, " ");
  const body = raw.slice(i).replace(/^\r?\n\r?\n/, "");
  const headers = new Map<string, string>();
  for (const line of head.split(/\r?\n/)) {
    const c = line.indexOf(":");
    if (c > 0) headers.set(line.slice(0, c).trim().toLowerCase(), decodeWords(line.slice(c + 1).trim()));
  }
  return { headers, body };
}

function decodeBody(body: string, cte: string | undefined): string {
  const enc = (cte ?? "7bit").toLowerCase();
  if (enc === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (enc === "quoted-printable") {
    const bytes = body.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  }
  return body;
}

export function parseMail(raw: string): ParsedMail {
  const top = split(raw);
  const out: ParsedMail = { headers: top.headers, text: "", html: "" };
  const walk = (headers: Map<string, string>, body: string) => {
    const ct = headers.get("content-type") ?? "text/plain";
    const b = /boundary="?([^";]+)"?/i.exec(ct)?.[1];
    if (/^multipart\//i.test(ct) && b) {
      for (const part of body.split(`--${b}`).slice(1)) {
        if (part.startsWith("--")) break;
        // The line break before a boundary belongs to the boundary, not to the part.
        const p = split(part.replace(/^\r?\n/, "").replace(/\r?\n$/, ""));
        walk(p.headers, p.body);
      }
      return;
    }
    const decoded = decodeBody(body, headers.get("content-transfer-encoding")).replace(/\r\n/g, "\n");
    if (/^text\/html/i.test(ct)) out.html += decoded;
    else if (/^text\/plain/i.test(ct)) out.text += decoded;
  };
  walk(top.headers, top.body);
  return out;
}
