// `clerk-edge-guard/server` when Node's own loader imports the package (Next 15's
// `serverExternalPackages`, any unbundled server): the same `auth()` as server.js. `next` has
// no `exports` map, so Node's ESM resolver needs the file names; bundlers, which Next aliases
// `next/navigation` for, take server.js instead.
import { headers } from "next/headers.js";
import * as navigation from "next/navigation.js";

import { createAuth } from "./server-auth.js";

export { createRouteMatcher } from "./route-matcher.js";
export { verifyIdentityHeaders, IdentityHeadersError } from "./identity.js";

export const auth = createAuth(headers, navigation);
