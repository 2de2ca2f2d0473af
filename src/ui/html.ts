import { html as preactHtml } from "htm/preact";
import type { VNode } from "preact";
import { renderToString } from "preact-render-to-string";

/*
 * Server-side rendering: htm's tagged templates build preact elements, preact-render-to-string turns them into HTML.
 * Every interpolated value is text or an attribute value, escaped by the renderer; no raw HTML is ever inserted.
 */

/** A rendered piece of the page (preact element, text, list of them, or nothing). */
export type Html = VNode | string | number | null | undefined | false | Html[];

export const html: (strings: TemplateStringsArray, ...values: unknown[]) => Html = preactHtml;

/** A whole HTML document. */
export function toDocument(node: Html): string {
  return `<!doctype html>${renderToString(node as VNode)}`;
}
