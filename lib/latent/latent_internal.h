/* What snapshots (snapshot.c) use of the latent packets (packet.c). */
#ifndef PA_LATENT_INTERNAL_H
#define PA_LATENT_INTERNAL_H

#include "../engine/engine_internal.h"

/* pyagent_latent_export with the agent already held (pa_agent_begin_change). */
pyagent_status pa_latent_export_locked(pyagent_agent *a, int64_t from, int64_t to,
                                       pyagent_latent_packet **out);
/* Import that keeps the packet's last token computed (its logits are restored separately). */
pyagent_status pa_latent_import_exact_locked(pyagent_agent *a, const pyagent_latent_packet *p);
/* pyagent_latent_packet_deserialize with the message in `err`. */
pyagent_status pa_latent_parse(pyagent_engine *e, const uint8_t *data, size_t size,
                               pyagent_latent_packet **out, pa_err *err);

#endif
