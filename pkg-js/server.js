// `clerk-edge-guard/server` for bundlers (the `react-server` condition: Next's server
// components, route handlers and server actions, bundled by Turbopack or webpack): `auth()`
// and `auth.protect()` (server-auth.js). The bare specifiers let Next alias its own modules.
import { headers } from "next/headers";
import * as navigation from "next/navigation";

import { createAuth } from "./server-auth.js";

export { createRouteMatcher } from "./route-matcher.js";
export { verifyIdentityHeaders, IdentityHeadersError } from "./identity.js";

export const auth = createAuth(headers, navigation);
