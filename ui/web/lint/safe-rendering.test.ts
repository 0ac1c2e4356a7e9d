import { describe, expect, it } from "vitest";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { lintComponent, lintSafeRendering, lintScript } from "./safe-rendering.ts";

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src");

describe("safe-rendering lint", () => {
  it("passes on the console's own components and scripts", () => {
    expect(lintSafeRendering(SRC)).toEqual([]);
  });

  it("fails on {@html}, however it is written, with the file and position", () => {
    const p = lintComponent("x.svelte", "<script>let { v } = $props();</script>\n<p>ok</p>\n<div>{@html v}</div>\n{#if v}{@html\n  v.message}{/if}");
    expect(p.map((x) => [x.code, x.line])).toEqual([
      ["svelte_html_tag", 3],
      ["svelte_html_tag", 4],
    ]);
  });

  it("fails on DOM sinks that parse HTML or run code, but not in comments", () => {
    const src = [
      "el.innerHTML = msg;",
      "el.outerHTML += msg;",
      "el.insertAdjacentHTML('beforeend', msg);",
      "document.write(msg);",
      "frame.srcdoc = msg;",
      "eval(code);",
      "new Function(code)();",
      "setTimeout('alert(1)', 1);",
      "// el.innerHTML = msg;",
      "/* eval(x) */ el.textContent = msg;",
    ].join("\n");
    expect(lintScript("x.ts", src).map((x) => x.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const inComponent = lintComponent("y.svelte", "<script>let el; $effect(() => { el.innerHTML = '<b>'; });</script><div bind:this={el}></div>");
    expect(inComponent.map((x) => x.code)).toEqual(["dangerous_sink"]);
  });

  it("fails on URL attributes an attacker could point at javascript:", () => {
    const p = lintComponent("z.svelte", [
      "<script>let { url, id } = $props(); import { safeHref } from './safe-url.ts';</script>",
      "<a href={url}>x</a>",
      '<a href="{url}">x</a>',
      '<a href="javascript:alert(1)">x</a>',
      '<img src={url} alt="" />',
      '<a href="/chains/{id}">ok</a>',
      "<a href={safeHref(url)}>ok</a>",
      '<a href="#top">ok</a>',
    ].join("\n"));
    expect(p.map((x) => [x.code, x.line])).toEqual([
      ["unsafe_url_attribute", 2],
      ["unsafe_url_attribute", 3],
      ["unsafe_url_attribute", 4],
      ["unsafe_url_attribute", 5],
    ]);
  });
});
