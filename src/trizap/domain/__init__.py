"""The product's actors: tenants, sessions (actor, state machine, outbox drain), the event
hub and the reaper, and the directory the runtime finds them in.

Built on the actor kernel (`trizap.actors`) and the supervisors (`trizap.supervisor`);
it talks to engines (`trizap.whatsapp`), the store (`trizap.store`) and speaks the
vocabulary (`trizap.protocol`). It knows nothing of the runtime's services or of HTTP.
"""
