/** A message on the `events` queue: attempt delivery `deliveryId`. Keys only, never payloads. */
export interface EventMessage {
  deliveryId: string
}
