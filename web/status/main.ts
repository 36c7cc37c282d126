/**
 * The status page in the browser: reads the settings embedded at build time, checks the
 * environment's health now and every 30 s, and shows it.
 *
 * @module
 */
import type { StatusConfig } from "./config.ts";
import { checkHealth, type HealthReport } from "./health.ts";

const REFRESH_MS = 30_000;

/**
 * The little of the DOM this page uses. Declared here instead of `/// <reference lib="dom" />`,
 * which would change the global types of every module `deno check .` checks with it.
 */
interface PageElement {
  textContent: string | null;
  dataset: Record<string, string>;
  querySelector(selector: string): PageElement | null;
}
const document = (globalThis as unknown as {
  document: { getElementById(id: string): PageElement | null };
}).document;

function render(report: HealthReport, at: Date): void {
  const row = document.getElementById("health");
  if (!row) return;
  row.dataset.state = report.state;
  row.querySelector(".env")!.textContent = report.env;
  row.querySelector(".state")!.textContent = report.state;
  row.querySelector(".detail")!.textContent = `${report.detail} (${report.ms} ms)`;
  row.querySelector(".checked")!.textContent = at.toLocaleTimeString();
}

async function refresh(config: StatusConfig): Promise<void> {
  render(await checkHealth(config), new Date());
}

const embedded = document.getElementById("status-config")?.textContent ?? "null";
const config = JSON.parse(embedded) as StatusConfig | null;
if (config) {
  refresh(config);
  setInterval(() => refresh(config), REFRESH_MS);
}
