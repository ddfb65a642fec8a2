import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** @type {import("next").NextConfig} */
const nextConfig = {
  // This app lives inside the clerk-edge-guard repository, which has its own lockfile:
  // tell Turbopack where the app's root is.
  turbopack: { root: dirname(fileURLToPath(import.meta.url)) },
};

export default nextConfig;
