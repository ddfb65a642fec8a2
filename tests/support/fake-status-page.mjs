// A local stand-in for Clerk's public status page (status.clerk.com's Statuspage JSON summary,
// `GET /api/v2/status.json`), for the diagnosis tests: it answers
// `{"page": {...}, "status": {"indicator", "description"}}`, the shape the diagnosis reads.
//
// Node >= 20, ESM, node: built-ins only.
//
//   const page = await startFakeStatusPage();           // "none", "All Systems Operational"
//   page.setStatus("major", "Major System Outage");
//   page.delayMs = 3000;                                 // slower than the 2 s the probe waits
//   ... CLERK_STATUS_URL = page.statusUrl ...
//   await page.close();

import { sendJson, serveLocal } from "./http-fake.mjs";

/** The path Statuspage serves its summary on. */
export const STATUS_PATH = "/api/v2/status.json";

/**
 * Starts the page on 127.0.0.1 (`port`: 0 for any free one). Returns { url, statusUrl, close(), setStatus(indicator,
 * description), delayMs, requests } (delayMs: set to slow every answer down).
 */
export async function startFakeStatusPage({ port = 0 } = {}) {
  const page = {
    indicator: "none",
    description: "All Systems Operational",
    delayMs: 0,
    requests: 0,
  };
  const timers = new Set();
  const { url, close } = await serveLocal(
    (req, res) => {
      page.requests += 1;
      const answer = () => {
        if (new URL(req.url, "http://status.invalid").pathname !== STATUS_PATH) {
          return sendJson(res, 404, { error: "not found" });
        }
        sendJson(res, 200, {
          page: { id: "fake", name: "Clerk", url: "https://status.clerk.com" },
          status: { indicator: page.indicator, description: page.description },
        });
      };
      if (page.delayMs <= 0) return answer();
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, page.delayMs);
      timers.add(timer);
    },
    {
      port,
      onClose: () => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
      },
    },
  );
  return Object.assign(page, {
    url,
    statusUrl: `${url}${STATUS_PATH}`,
    close,
    setStatus(indicator, description) {
      page.indicator = indicator;
      page.description = description;
    },
  });
}
