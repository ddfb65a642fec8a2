// Svix deliveries as Svix sends them: headers signed by the `svix` package (an independent
// implementation of the scheme the Worker verifies).
import { Webhook } from "svix";

/** The `svix-*` headers (and JSON content type) of a delivery `{ id, body }`. */
export function svixHeaders({ id, body }, { secret, at = new Date() }) {
  return {
    "content-type": "application/json",
    "svix-id": id,
    "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
    "svix-signature": new Webhook(secret).sign(id, at, body),
  };
}
