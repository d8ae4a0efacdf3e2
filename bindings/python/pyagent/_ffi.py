"""ctypes declarations of libpyagent, GENERATED from include/pyagent/*.h. Do not edit.

Regenerate with `python3 bindings/gen_bindings.py` from the repository root.
"""
import ctypes

HEADERS = ('pyagent.h', 'agent.h', 'engine.h', 'kv.h', 'latent.h', 'registry.h', 'semantic.h', 'spec.h')

# ----------------------------------------------------------------------------------------------
# Constants (#define PYAGENT_*)
# ----------------------------------------------------------------------------------------------

# pyagent.h
PYAGENT_VERSION_MAJOR = 0
PYAGENT_VERSION_MINOR = 1
PYAGENT_VERSION_PATCH = 0
PYAGENT_VERSION_NUMBER = 100
PYAGENT_ABI_VERSION = 1
PYAGENT_OK = 0
PYAGENT_ERR_INVALID_ARGUMENT = 1
PYAGENT_ERR_OUT_OF_MEMORY = 2
PYAGENT_ERR_IO = 3
PYAGENT_ERR_BAD_MODEL = 4
PYAGENT_ERR_UNSUPPORTED = 5
PYAGENT_ERR_UNKNOWN_KEY = 6
PYAGENT_ERR_OUT_OF_RANGE = 7
PYAGENT_ERR_BUFFER_TOO_SMALL = 8
PYAGENT_ERR_CONTEXT_FULL = 9
PYAGENT_ERR_ABI_MISMATCH = 10
PYAGENT_ERR_INVALID_UTF8 = 11
PYAGENT_ERR_INVALID_TOKEN = 12
PYAGENT_ERR_BUSY = 13
PYAGENT_ERR_INTERNAL = 14
PYAGENT_ERR_NO_MODEL = 15
PYAGENT_ERR_DATABASE = 16
PYAGENT_ERR_KV_FULL = 17
PYAGENT_ERR_MISMATCH = 18
PYAGENT_ERR_BAD_PACKET = 19
PYAGENT_LOG_DEBUG = 0
PYAGENT_LOG_INFO = 1
PYAGENT_LOG_WARN = 2
PYAGENT_LOG_ERROR = 3
PYAGENT_LOG_NONE = 4
PYAGENT_SPEC_OFF = 0
PYAGENT_SPEC_LOOKUP = 1
PYAGENT_SPEC_SELF = 2
PYAGENT_SPEC_DRAFT = 3
PYAGENT_KV_POLICY_WINDOW = 0
PYAGENT_KV_POLICY_H2O = 1
PYAGENT_KV_POLICY_KVZAP = 2
PYAGENT_SPEC_TREE_STATIC = 0
PYAGENT_SPEC_TREE_EAGLE2 = 1
PYAGENT_SPEC_TREE_TALON = 2
PYAGENT_KV_F32 = 0
PYAGENT_KV_F16 = 1
PYAGENT_KV_Q8_0 = 2
PYAGENT_BACKEND_CPU = 0
PYAGENT_BACKEND_CUDA = 1
PYAGENT_PARAMS_ENGINE = 1
PYAGENT_PARAMS_SAMPLER = 2
PYAGENT_PARAMS_REGISTRY = 3
PYAGENT_PARAMS_ROUTE = 4

# agent.h
PYAGENT_TOKEN_EMBEDDING = -1
PYAGENT_FINISH_LENGTH = 1
PYAGENT_FINISH_EOS = 2
PYAGENT_FINISH_STOP = 3
PYAGENT_FINISH_CANCELLED = 4
PYAGENT_FINISH_CONTEXT = 5

# engine.h
PYAGENT_TOKENIZE_ADD_SPECIAL = 1
PYAGENT_TOKENIZE_PARSE_SPECIAL = 2
PYAGENT_DETOKENIZE_SPECIAL = 1
PYAGENT_DETOKENIZE_STRIP_LEADING_SPACE = 2

# latent.h
PYAGENT_LATENT_F16 = 0
PYAGENT_LATENT_Q8_0 = 1
PYAGENT_LATENT_F32 = 2

# registry.h
PYAGENT_ESTIMATE_TOKENIZER = 1
PYAGENT_ESTIMATE_HEURISTIC = 2
PYAGENT_CHECK_CAPABILITIES = 1
PYAGENT_CHECK_PRICES = 2
PYAGENT_CHECK_MEASUREMENTS = 4
PYAGENT_EXPORT_HISTORY = 1

# spec.h
PYAGENT_SPEC_TREE_MAX_NODES = 16384

# ----------------------------------------------------------------------------------------------
# Types
# ----------------------------------------------------------------------------------------------


class pyagent_params(ctypes.Structure):
    """Opaque handle (pyagent.h)."""


class pyagent_agent(ctypes.Structure):
    """Opaque handle (agent.h)."""


class pyagent_spec_tree(ctypes.Structure):
    """Opaque handle (agent.h)."""


class pyagent_engine(ctypes.Structure):
    """Opaque handle (engine.h)."""


class pyagent_kv_store(ctypes.Structure):
    """Opaque handle (kv.h)."""


class pyagent_latent_packet(ctypes.Structure):
    """Opaque handle (latent.h)."""


class pyagent_adapter(ctypes.Structure):
    """Opaque handle (latent.h)."""


class pyagent_registry(ctypes.Structure):
    """Opaque handle (registry.h)."""


class pyagent_route(ctypes.Structure):
    """Opaque handle (registry.h)."""


class pyagent_semantic_cache(ctypes.Structure):
    """Opaque handle (semantic.h)."""


class pyagent_spec_tree(ctypes.Structure):
    """Opaque handle (spec.h)."""


class pyagent_agent_stats(ctypes.Structure):
    """struct pyagent_agent_stats (agent.h); _fields_ below."""


class pyagent_tensor_info(ctypes.Structure):
    """struct pyagent_tensor_info (engine.h); _fields_ below."""


class pyagent_kv_stats(ctypes.Structure):
    """struct pyagent_kv_stats (kv.h); _fields_ below."""


class pyagent_kv_node(ctypes.Structure):
    """struct pyagent_kv_node (kv.h); _fields_ below."""


class pyagent_kvzap_info(ctypes.Structure):
    """struct pyagent_kvzap_info (kv.h); _fields_ below."""


class pyagent_adapter_info(ctypes.Structure):
    """struct pyagent_adapter_info (latent.h); _fields_ below."""


class pyagent_route_summary(ctypes.Structure):
    """struct pyagent_route_summary (registry.h); _fields_ below."""


class pyagent_semantic_config(ctypes.Structure):
    """struct pyagent_semantic_config (semantic.h); _fields_ below."""


class pyagent_semantic_stats(ctypes.Structure):
    """struct pyagent_semantic_stats (semantic.h); _fields_ below."""


pyagent_status = ctypes.c_int32

# typedef void (*pyagent_log_fn)(void *user_data, int32_t level, const char *message)
pyagent_log_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_char))

# typedef void (*pyagent_token_fn)(void *user_data, int32_t token, const char *text, size_t text_len)
pyagent_token_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)

pyagent_agent_stats._fields_ = [
    ('struct_size', ctypes.c_uint32),
    ('reserved', ctypes.c_uint32),
    ('n_prompt_tokens', ctypes.c_int64),
    ('n_generated_tokens', ctypes.c_int64),
    ('prefill_seconds', ctypes.c_double),
    ('decode_seconds', ctypes.c_double),
    ('n_cached_tokens', ctypes.c_int64),
    ('n_drafted_tokens', ctypes.c_int64),
    ('n_accepted_tokens', ctypes.c_int64),
    ('n_verify_steps', ctypes.c_int64),
    ('draft_seconds', ctypes.c_double),
    ('n_imported_tokens', ctypes.c_int64),
    ('n_pruned_tokens', ctypes.c_int64),
    ('n_landmarks', ctypes.c_int64),
    ('landmark_bytes', ctypes.c_int64),
]

pyagent_tensor_info._fields_ = [
    ('struct_size', ctypes.c_uint32),
    ('n_dims', ctypes.c_uint32),
    ('name', ctypes.POINTER(ctypes.c_char)),
    ('type', ctypes.POINTER(ctypes.c_char)),
    ('dims', (ctypes.c_int64 * 4)),
    ('n_bytes', ctypes.c_int64),
]

pyagent_kv_stats._fields_ = [
    ('struct_size', ctypes.c_uint32),
    ('block_size', ctypes.c_uint32),
    ('block_bytes', ctypes.c_int64),
    ('n_blocks', ctypes.c_int64),
    ('n_used', ctypes.c_int64),
    ('n_cached', ctypes.c_int64),
    ('n_free', ctypes.c_int64),
    ('n_prefix_hit_tokens', ctypes.c_int64),
    ('n_prompt_tokens_computed', ctypes.c_int64),
    ('n_evictions', ctypes.c_int64),
    ('n_cow_copies', ctypes.c_int64),
    ('peak_used_bytes', ctypes.c_int64),
    ('n_disk_spilled', ctypes.c_int64),
    ('n_disk_restored', ctypes.c_int64),
    ('n_disk_rejected', ctypes.c_int64),
    ('disk_bytes', ctypes.c_int64),
    ('n_redis_spilled', ctypes.c_int64),
    ('n_redis_restored', ctypes.c_int64),
    ('n_redis_rejected', ctypes.c_int64),
    ('redis_bytes', ctypes.c_int64),
    ('n_host_spilled', ctypes.c_int64),
    ('n_host_restored', ctypes.c_int64),
    ('n_host_rejected', ctypes.c_int64),
    ('host_bytes', ctypes.c_int64),
]

pyagent_kv_node._fields_ = [
    ('key', ctypes.c_uint64),
    ('parent_key', ctypes.c_uint64),
    ('refcount', ctypes.c_int32),
    ('n_children', ctypes.c_int32),
]

pyagent_kvzap_info._fields_ = [
    ('struct_size', ctypes.c_uint32),
    ('reserved', ctypes.c_uint32),
    ('n_layer', ctypes.c_int64),
    ('n_head_kv', ctypes.c_int64),
    ('n_embd', ctypes.c_int64),
    ('n_texts', ctypes.c_int64),
    ('n_train', ctypes.c_int64),
    ('n_heldout', ctypes.c_int64),
    ('ridge', ctypes.c_double),
    ('r2_heldout', ctypes.c_double),
    ('top_overlap', ctypes.c_double),
    ('fingerprint', ctypes.c_uint64),
]

pyagent_adapter_info._fields_ = [
    ('struct_size', ctypes.c_uint32),
    ('reserved', ctypes.c_uint32),
    ('dim_in', ctypes.c_int64),
    ('dim_out', ctypes.c_int64),
    ('n_train', ctypes.c_int64),
    ('n_heldout', ctypes.c_int64),
    ('ridge', ctypes.c_double),
    ('r2_train', ctypes.c_double),
    ('r2_heldout', ctypes.c_double),
    ('top1_heldout', ctypes.c_double),
    ('fingerprint_in', ctypes.c_uint64),
    ('fingerprint_out', ctypes.c_uint64),
]

pyagent_route_summary._fields_ = [
    ('struct_size', ctypes.c_uint32),
    ('reserved', ctypes.c_uint32),
    ('n_models', ctypes.c_int64),
    ('n_qualified', ctypes.c_int64),
    ('estimated_cost', ctypes.c_double),
    ('estimated_latency_ms', ctypes.c_double),
    ('quality', ctypes.c_double),
]

pyagent_semantic_config._fields_ = [
    ('struct_size', ctypes.c_uint32),
    ('n_bits', ctypes.c_uint32),
    ('n_tables', ctypes.c_uint32),
    ('reserved', ctypes.c_uint32),
    ('threshold', ctypes.c_double),
    ('max_entries', ctypes.c_int64),
    ('max_age_s', ctypes.c_double),
    ('seed', ctypes.c_uint64),
]

pyagent_semantic_stats._fields_ = [
    ('struct_size', ctypes.c_uint32),
    ('reserved', ctypes.c_uint32),
    ('n_entries', ctypes.c_int64),
    ('n_puts', ctypes.c_int64),
    ('n_hits', ctypes.c_int64),
    ('n_misses', ctypes.c_int64),
    ('n_expired', ctypes.c_int64),
    ('n_compared', ctypes.c_int64),
]

# ----------------------------------------------------------------------------------------------
# Functions: name -> (restype, argtypes, parameter names, header)
# ----------------------------------------------------------------------------------------------

FUNCTIONS = {
    # uint32_t pyagent_version_number(void)
    'pyagent_version_number': (ctypes.c_uint32, [], (), 'pyagent.h'),
    # const char *pyagent_version_string(void)
    'pyagent_version_string': (ctypes.c_char_p, [], (), 'pyagent.h'),
    # int32_t pyagent_abi_version(void)
    'pyagent_abi_version': (ctypes.c_int32, [], (), 'pyagent.h'),
    # pyagent_status pyagent_check_abi(int32_t abi_version)
    'pyagent_check_abi': (pyagent_status, [ctypes.c_int32], ('abi_version',), 'pyagent.h'),
    # const char *pyagent_status_str(pyagent_status status)
    'pyagent_status_str': (ctypes.c_char_p, [pyagent_status], ('status',), 'pyagent.h'),
    # void pyagent_free(void *ptr)
    'pyagent_free': (None, [ctypes.c_void_p], ('ptr',), 'pyagent.h'),
    # pyagent_params *pyagent_params_create(int32_t kind)
    'pyagent_params_create': (ctypes.POINTER(pyagent_params), [ctypes.c_int32], ('kind',), 'pyagent.h'),
    # void pyagent_params_destroy(pyagent_params *params)
    'pyagent_params_destroy': (None, [ctypes.POINTER(pyagent_params)], ('params',), 'pyagent.h'),
    # pyagent_status pyagent_params_set_i64(pyagent_params *params, const char *key, int64_t value)
    'pyagent_params_set_i64': (pyagent_status, [ctypes.POINTER(pyagent_params), ctypes.c_char_p, ctypes.c_int64], ('params', 'key', 'value'), 'pyagent.h'),
    # pyagent_status pyagent_params_set_f64(pyagent_params *params, const char *key, double value)
    'pyagent_params_set_f64': (pyagent_status, [ctypes.POINTER(pyagent_params), ctypes.c_char_p, ctypes.c_double], ('params', 'key', 'value'), 'pyagent.h'),
    # pyagent_status pyagent_params_get_i64(const pyagent_params *params, const char *key, int64_t *value)
    'pyagent_params_get_i64': (pyagent_status, [ctypes.POINTER(pyagent_params), ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)], ('params', 'key', 'value'), 'pyagent.h'),
    # pyagent_status pyagent_params_get_f64(const pyagent_params *params, const char *key, double *value)
    'pyagent_params_get_f64': (pyagent_status, [ctypes.POINTER(pyagent_params), ctypes.c_char_p, ctypes.POINTER(ctypes.c_double)], ('params', 'key', 'value'), 'pyagent.h'),
    # pyagent_status pyagent_params_set_str(pyagent_params *params, const char *key, const char *value)
    'pyagent_params_set_str': (pyagent_status, [ctypes.POINTER(pyagent_params), ctypes.c_char_p, ctypes.c_char_p], ('params', 'key', 'value'), 'pyagent.h'),
    # pyagent_status pyagent_params_get_str(const pyagent_params *params, const char *key, char *value, size_t capacity, size_t *needed)
    'pyagent_params_get_str': (pyagent_status, [ctypes.POINTER(pyagent_params), ctypes.c_char_p, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('params', 'key', 'value', 'capacity', 'needed'), 'pyagent.h'),
    # pyagent_status pyagent_params_bounds(int32_t kind, const char *key, double *min, double *max)
    'pyagent_params_bounds': (pyagent_status, [ctypes.c_int32, ctypes.c_char_p, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double)], ('kind', 'key', 'min', 'max'), 'pyagent.h'),
    # const char *pyagent_params_last_error(const pyagent_params *params)
    'pyagent_params_last_error': (ctypes.c_char_p, [ctypes.POINTER(pyagent_params)], ('params',), 'pyagent.h'),
    # pyagent_status pyagent_agent_create(pyagent_engine *engine, const pyagent_params *sampler, pyagent_agent **agent)
    'pyagent_agent_create': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(pyagent_params), ctypes.POINTER(ctypes.POINTER(pyagent_agent))], ('engine', 'sampler', 'agent'), 'agent.h'),
    # void pyagent_agent_destroy(pyagent_agent *agent)
    'pyagent_agent_destroy': (None, [ctypes.POINTER(pyagent_agent)], ('agent',), 'agent.h'),
    # const char *pyagent_agent_last_error(const pyagent_agent *agent)
    'pyagent_agent_last_error': (ctypes.c_char_p, [ctypes.POINTER(pyagent_agent)], ('agent',), 'agent.h'),
    # pyagent_status pyagent_agent_set_sampler(pyagent_agent *agent, const pyagent_params *sampler)
    'pyagent_agent_set_sampler': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(pyagent_params)], ('agent', 'sampler'), 'agent.h'),
    # pyagent_status pyagent_agent_feed_text(pyagent_agent *agent, const char *text, int64_t text_len)
    'pyagent_agent_feed_text': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_char_p, ctypes.c_int64], ('agent', 'text', 'text_len'), 'agent.h'),
    # pyagent_status pyagent_agent_feed_tokens(pyagent_agent *agent, const int32_t *tokens, size_t n_tokens)
    'pyagent_agent_feed_tokens': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t], ('agent', 'tokens', 'n_tokens'), 'agent.h'),
    # pyagent_status pyagent_agent_feed_embeddings(pyagent_agent *agent, const float *rows, size_t n_rows, size_t dim)
    'pyagent_agent_feed_embeddings': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_size_t], ('agent', 'rows', 'n_rows', 'dim'), 'agent.h'),
    # pyagent_status pyagent_agent_prefill(pyagent_agent *agent)
    'pyagent_agent_prefill': (pyagent_status, [ctypes.POINTER(pyagent_agent)], ('agent',), 'agent.h'),
    # pyagent_status pyagent_agent_logits(pyagent_agent *agent, float *logits, size_t capacity, size_t *n_logits)
    'pyagent_agent_logits': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('agent', 'logits', 'capacity', 'n_logits'), 'agent.h'),
    # pyagent_status pyagent_agent_hidden(pyagent_agent *agent, float *hidden, size_t capacity, size_t *n_floats)
    'pyagent_agent_hidden': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('agent', 'hidden', 'capacity', 'n_floats'), 'agent.h'),
    # pyagent_status pyagent_agent_add_stop(pyagent_agent *agent, const char *stop, int64_t stop_len)
    'pyagent_agent_add_stop': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_char_p, ctypes.c_int64], ('agent', 'stop', 'stop_len'), 'agent.h'),
    # pyagent_status pyagent_agent_clear_stops(pyagent_agent *agent)
    'pyagent_agent_clear_stops': (pyagent_status, [ctypes.POINTER(pyagent_agent)], ('agent',), 'agent.h'),
    # pyagent_status pyagent_agent_generate(pyagent_agent *agent, int32_t max_tokens, pyagent_token_fn on_token, void *user_data, int32_t *finish_reason)
    'pyagent_agent_generate': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_int32, pyagent_token_fn, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32)], ('agent', 'max_tokens', 'on_token', 'user_data', 'finish_reason'), 'agent.h'),
    # void pyagent_agent_cancel(pyagent_agent *agent)
    'pyagent_agent_cancel': (None, [ctypes.POINTER(pyagent_agent)], ('agent',), 'agent.h'),
    # pyagent_status pyagent_agent_tokens(pyagent_agent *agent, int32_t *tokens, size_t capacity, size_t *n_tokens)
    'pyagent_agent_tokens': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('agent', 'tokens', 'capacity', 'n_tokens'), 'agent.h'),
    # pyagent_status pyagent_agent_reset(pyagent_agent *agent)
    'pyagent_agent_reset': (pyagent_status, [ctypes.POINTER(pyagent_agent)], ('agent',), 'agent.h'),
    # pyagent_status pyagent_agent_fork(pyagent_agent *agent, pyagent_agent **child)
    'pyagent_agent_fork': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(ctypes.POINTER(pyagent_agent))], ('agent', 'child'), 'agent.h'),
    # pyagent_status pyagent_agent_rewind(pyagent_agent *agent, size_t n_tokens)
    'pyagent_agent_rewind': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_size_t], ('agent', 'n_tokens'), 'agent.h'),
    # pyagent_status pyagent_agent_set_label(pyagent_agent *agent, const char *key, const char *value)
    'pyagent_agent_set_label': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_char_p, ctypes.c_char_p], ('agent', 'key', 'value'), 'agent.h'),
    # const char *pyagent_agent_get_label(const pyagent_agent *agent, const char *key)
    'pyagent_agent_get_label': (ctypes.c_char_p, [ctypes.POINTER(pyagent_agent), ctypes.c_char_p], ('agent', 'key'), 'agent.h'),
    # pyagent_status pyagent_agent_submit(pyagent_agent *agent, int32_t max_tokens, pyagent_token_fn on_token, void *user_data)
    'pyagent_agent_submit': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_int32, pyagent_token_fn, ctypes.c_void_p], ('agent', 'max_tokens', 'on_token', 'user_data'), 'agent.h'),
    # pyagent_status pyagent_agent_poll(pyagent_agent *agent, int32_t *finish_reason)
    'pyagent_agent_poll': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(ctypes.c_int32)], ('agent', 'finish_reason'), 'agent.h'),
    # pyagent_status pyagent_agent_draft(pyagent_agent *agent, const pyagent_spec_tree *tree)
    'pyagent_agent_draft': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(pyagent_spec_tree)], ('agent', 'tree'), 'agent.h'),
    # pyagent_status pyagent_agent_save(pyagent_agent *agent, const char *path)
    'pyagent_agent_save': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_char_p], ('agent', 'path'), 'agent.h'),
    # pyagent_status pyagent_agent_load(pyagent_engine *engine, const char *path, pyagent_agent **agent)
    'pyagent_agent_load': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(pyagent_agent))], ('engine', 'path', 'agent'), 'agent.h'),
    # pyagent_status pyagent_agent_checkpoint(pyagent_agent *agent, const char *dir)
    'pyagent_agent_checkpoint': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_char_p], ('agent', 'dir'), 'agent.h'),
    # pyagent_status pyagent_agent_restore(pyagent_engine *engine, const char *dir, pyagent_agent **agent)
    'pyagent_agent_restore': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(pyagent_agent))], ('engine', 'dir', 'agent'), 'agent.h'),
    # pyagent_status pyagent_agent_stats_get(const pyagent_agent *agent, pyagent_agent_stats *stats)
    'pyagent_agent_stats_get': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(pyagent_agent_stats)], ('agent', 'stats'), 'agent.h'),
    # pyagent_status pyagent_engine_open(const char *path, const pyagent_params *params, pyagent_engine **engine)
    'pyagent_engine_open': (pyagent_status, [ctypes.c_char_p, ctypes.POINTER(pyagent_params), ctypes.POINTER(ctypes.POINTER(pyagent_engine))], ('path', 'params', 'engine'), 'engine.h'),
    # void pyagent_engine_destroy(pyagent_engine *engine)
    'pyagent_engine_destroy': (None, [ctypes.POINTER(pyagent_engine)], ('engine',), 'engine.h'),
    # const char *pyagent_engine_last_error(const pyagent_engine *engine)
    'pyagent_engine_last_error': (ctypes.c_char_p, [ctypes.POINTER(pyagent_engine)], ('engine',), 'engine.h'),
    # pyagent_status pyagent_engine_set_log(pyagent_engine *engine, int32_t min_level, pyagent_log_fn fn, void *user_data)
    'pyagent_engine_set_log': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_int32, pyagent_log_fn, ctypes.c_void_p], ('engine', 'min_level', 'fn', 'user_data'), 'engine.h'),
    # pyagent_status pyagent_engine_info(const pyagent_engine *engine, const char *key, int64_t *value)
    'pyagent_engine_info': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)], ('engine', 'key', 'value'), 'engine.h'),
    # pyagent_status pyagent_engine_meta_str(const pyagent_engine *engine, const char *key, char *value, size_t capacity, size_t *needed)
    'pyagent_engine_meta_str': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('engine', 'key', 'value', 'capacity', 'needed'), 'engine.h'),
    # pyagent_status pyagent_engine_tokenize(pyagent_engine *engine, const char *text, int64_t text_len, int32_t flags, int32_t *tokens, size_t capacity, size_t *n_tokens)
    'pyagent_engine_tokenize': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.c_int64, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('engine', 'text', 'text_len', 'flags', 'tokens', 'capacity', 'n_tokens'), 'engine.h'),
    # pyagent_status pyagent_engine_detokenize(pyagent_engine *engine, const int32_t *tokens, size_t n_tokens, int32_t flags, char *text, size_t capacity, size_t *text_len)
    'pyagent_engine_detokenize': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.c_int32, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('engine', 'tokens', 'n_tokens', 'flags', 'text', 'capacity', 'text_len'), 'engine.h'),
    # pyagent_status pyagent_engine_tensor(pyagent_engine *engine, int64_t index, pyagent_tensor_info *info)
    'pyagent_engine_tensor': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_int64, ctypes.POINTER(pyagent_tensor_info)], ('engine', 'index', 'info'), 'engine.h'),
    # pyagent_status pyagent_engine_embed_tokens(pyagent_engine *engine, const int32_t *tokens, size_t n_tokens, float *rows, size_t capacity, size_t *n_floats)
    'pyagent_engine_embed_tokens': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('engine', 'tokens', 'n_tokens', 'rows', 'capacity', 'n_floats'), 'engine.h'),
    # pyagent_status pyagent_engine_embed_text(pyagent_engine *engine, const char *text, int64_t text_len, float *embedding, size_t capacity, size_t *n_floats)
    'pyagent_engine_embed_text': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('engine', 'text', 'text_len', 'embedding', 'capacity', 'n_floats'), 'engine.h'),
    # pyagent_status pyagent_engine_load_draft(pyagent_engine *engine, const char *path)
    'pyagent_engine_load_draft': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p], ('engine', 'path'), 'engine.h'),
    # pyagent_status pyagent_engine_step(pyagent_engine *engine, int32_t *n_active)
    'pyagent_engine_step': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(ctypes.c_int32)], ('engine', 'n_active'), 'engine.h'),
    # pyagent_status pyagent_engine_start(pyagent_engine *engine)
    'pyagent_engine_start': (pyagent_status, [ctypes.POINTER(pyagent_engine)], ('engine',), 'engine.h'),
    # pyagent_status pyagent_engine_stop(pyagent_engine *engine)
    'pyagent_engine_stop': (pyagent_status, [ctypes.POINTER(pyagent_engine)], ('engine',), 'engine.h'),
    # pyagent_kv_store *pyagent_engine_kv_store(pyagent_engine *engine)
    'pyagent_engine_kv_store': (ctypes.POINTER(pyagent_kv_store), [ctypes.POINTER(pyagent_engine)], ('engine',), 'kv.h'),
    # pyagent_status pyagent_kv_store_stats_get(const pyagent_kv_store *store, pyagent_kv_stats *stats)
    'pyagent_kv_store_stats_get': (pyagent_status, [ctypes.POINTER(pyagent_kv_store), ctypes.POINTER(pyagent_kv_stats)], ('store', 'stats'), 'kv.h'),
    # pyagent_status pyagent_kv_store_nodes(const pyagent_kv_store *store, pyagent_kv_node *nodes, int32_t *tokens, size_t capacity, size_t *n_nodes)
    'pyagent_kv_store_nodes': (pyagent_status, [ctypes.POINTER(pyagent_kv_store), ctypes.POINTER(pyagent_kv_node), ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('store', 'nodes', 'tokens', 'capacity', 'n_nodes'), 'kv.h'),
    # pyagent_status pyagent_kv_store_set_host_tier(pyagent_kv_store *store, int64_t max_bytes)
    'pyagent_kv_store_set_host_tier': (pyagent_status, [ctypes.POINTER(pyagent_kv_store), ctypes.c_int64], ('store', 'max_bytes'), 'kv.h'),
    # pyagent_status pyagent_kv_store_set_disk_tier(pyagent_kv_store *store, const char *dir, int64_t max_bytes)
    'pyagent_kv_store_set_disk_tier': (pyagent_status, [ctypes.POINTER(pyagent_kv_store), ctypes.c_char_p, ctypes.c_int64], ('store', 'dir', 'max_bytes'), 'kv.h'),
    # pyagent_status pyagent_kv_store_set_redis_tier(pyagent_kv_store *store, const char *host, int32_t port, int64_t ttl_seconds, int32_t timeout_ms, int64_t max_bytes)
    'pyagent_kv_store_set_redis_tier': (pyagent_status, [ctypes.POINTER(pyagent_kv_store), ctypes.c_char_p, ctypes.c_int32, ctypes.c_int64, ctypes.c_int32, ctypes.c_int64], ('store', 'host', 'port', 'ttl_seconds', 'timeout_ms', 'max_bytes'), 'kv.h'),
    # pyagent_status pyagent_kv_store_save(pyagent_kv_store *store, const char *path)
    'pyagent_kv_store_save': (pyagent_status, [ctypes.POINTER(pyagent_kv_store), ctypes.c_char_p], ('store', 'path'), 'kv.h'),
    # pyagent_status pyagent_kv_store_load(pyagent_kv_store *store, const char *path, int64_t *n_blocks)
    'pyagent_kv_store_load': (pyagent_status, [ctypes.POINTER(pyagent_kv_store), ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)], ('store', 'path', 'n_blocks'), 'kv.h'),
    # pyagent_status pyagent_kv_store_drop_cache(pyagent_kv_store *store)
    'pyagent_kv_store_drop_cache': (pyagent_status, [ctypes.POINTER(pyagent_kv_store)], ('store',), 'kv.h'),
    # pyagent_status pyagent_kvzap_fit(pyagent_engine *engine, const char **texts, size_t n_texts, double ridge, double heldout, const char *path, pyagent_kvzap_info *info)
    'pyagent_kvzap_fit': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, ctypes.c_double, ctypes.c_double, ctypes.c_char_p, ctypes.POINTER(pyagent_kvzap_info)], ('engine', 'texts', 'n_texts', 'ridge', 'heldout', 'path', 'info'), 'kv.h'),
    # pyagent_status pyagent_engine_load_kvzap(pyagent_engine *engine, const char *path, pyagent_kvzap_info *info)
    'pyagent_engine_load_kvzap': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.POINTER(pyagent_kvzap_info)], ('engine', 'path', 'info'), 'kv.h'),
    # pyagent_status pyagent_latent_export(pyagent_agent *agent, int64_t from, int64_t to, pyagent_latent_packet **packet)
    'pyagent_latent_export': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ctypes.POINTER(pyagent_latent_packet))], ('agent', 'from', 'to', 'packet'), 'latent.h'),
    # void pyagent_latent_packet_destroy(pyagent_latent_packet *packet)
    'pyagent_latent_packet_destroy': (None, [ctypes.POINTER(pyagent_latent_packet)], ('packet',), 'latent.h'),
    # pyagent_status pyagent_latent_packet_range(const pyagent_latent_packet *packet, int64_t *from, int64_t *to)
    'pyagent_latent_packet_range': (pyagent_status, [ctypes.POINTER(pyagent_latent_packet), ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64)], ('packet', 'from', 'to'), 'latent.h'),
    # pyagent_status pyagent_latent_import(pyagent_agent *agent, const pyagent_latent_packet *packet)
    'pyagent_latent_import': (pyagent_status, [ctypes.POINTER(pyagent_agent), ctypes.POINTER(pyagent_latent_packet)], ('agent', 'packet'), 'latent.h'),
    # pyagent_status pyagent_latent_packet_serialize(const pyagent_latent_packet *packet, int32_t payload_type, void *buffer, size_t capacity, size_t *needed)
    'pyagent_latent_packet_serialize': (pyagent_status, [ctypes.POINTER(pyagent_latent_packet), ctypes.c_int32, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('packet', 'payload_type', 'buffer', 'capacity', 'needed'), 'latent.h'),
    # pyagent_status pyagent_latent_packet_write_fd(const pyagent_latent_packet *packet, int32_t payload_type, int fd)
    'pyagent_latent_packet_write_fd': (pyagent_status, [ctypes.POINTER(pyagent_latent_packet), ctypes.c_int32, ctypes.c_int], ('packet', 'payload_type', 'fd'), 'latent.h'),
    # pyagent_status pyagent_latent_packet_deserialize(pyagent_engine *engine, const void *data, size_t size, pyagent_latent_packet **packet)
    'pyagent_latent_packet_deserialize': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.POINTER(pyagent_latent_packet))], ('engine', 'data', 'size', 'packet'), 'latent.h'),
    # pyagent_status pyagent_latent_packet_read_fd(pyagent_engine *engine, int fd, size_t max_bytes, pyagent_latent_packet **packet)
    'pyagent_latent_packet_read_fd': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_int, ctypes.c_size_t, ctypes.POINTER(ctypes.POINTER(pyagent_latent_packet))], ('engine', 'fd', 'max_bytes', 'packet'), 'latent.h'),
    # pyagent_status pyagent_latent_packet_put_redis(pyagent_engine *engine, const pyagent_latent_packet *packet, int32_t payload_type, const char *host, int32_t port, const char *key, int64_t ttl_seconds, int32_t timeout_ms)
    'pyagent_latent_packet_put_redis': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(pyagent_latent_packet), ctypes.c_int32, ctypes.c_char_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int32], ('engine', 'packet', 'payload_type', 'host', 'port', 'key', 'ttl_seconds', 'timeout_ms'), 'latent.h'),
    # pyagent_status pyagent_latent_packet_get_redis(pyagent_engine *engine, const char *host, int32_t port, const char *key, size_t max_bytes, int32_t timeout_ms, pyagent_latent_packet **packet)
    'pyagent_latent_packet_get_redis': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32, ctypes.POINTER(ctypes.POINTER(pyagent_latent_packet))], ('engine', 'host', 'port', 'key', 'max_bytes', 'timeout_ms', 'packet'), 'latent.h'),
    # pyagent_status pyagent_adapter_fit(pyagent_engine *src, pyagent_engine *dst, const char *text, int64_t text_len, double ridge, double heldout, pyagent_adapter **adapter)
    'pyagent_adapter_fit': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.c_int64, ctypes.c_double, ctypes.c_double, ctypes.POINTER(ctypes.POINTER(pyagent_adapter))], ('src', 'dst', 'text', 'text_len', 'ridge', 'heldout', 'adapter'), 'latent.h'),
    # void pyagent_adapter_destroy(pyagent_adapter *adapter)
    'pyagent_adapter_destroy': (None, [ctypes.POINTER(pyagent_adapter)], ('adapter',), 'latent.h'),
    # pyagent_status pyagent_adapter_info_get(const pyagent_adapter *adapter, pyagent_adapter_info *info)
    'pyagent_adapter_info_get': (pyagent_status, [ctypes.POINTER(pyagent_adapter), ctypes.POINTER(pyagent_adapter_info)], ('adapter', 'info'), 'latent.h'),
    # pyagent_status pyagent_adapter_apply(const pyagent_adapter *adapter, const float *hidden, size_t n_rows, float *rows, size_t capacity)
    'pyagent_adapter_apply': (pyagent_status, [ctypes.POINTER(pyagent_adapter), ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t], ('adapter', 'hidden', 'n_rows', 'rows', 'capacity'), 'latent.h'),
    # pyagent_status pyagent_adapter_save(pyagent_engine *engine, const pyagent_adapter *adapter, const char *path)
    'pyagent_adapter_save': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(pyagent_adapter), ctypes.c_char_p], ('engine', 'adapter', 'path'), 'latent.h'),
    # pyagent_status pyagent_adapter_load(pyagent_engine *src, pyagent_engine *dst, const char *path, pyagent_adapter **adapter)
    'pyagent_adapter_load': (pyagent_status, [ctypes.POINTER(pyagent_engine), ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(pyagent_adapter))], ('src', 'dst', 'path', 'adapter'), 'latent.h'),
    # pyagent_status pyagent_registry_open(const char *path, const pyagent_params *params, pyagent_registry **registry)
    'pyagent_registry_open': (pyagent_status, [ctypes.c_char_p, ctypes.POINTER(pyagent_params), ctypes.POINTER(ctypes.POINTER(pyagent_registry))], ('path', 'params', 'registry'), 'registry.h'),
    # void pyagent_registry_destroy(pyagent_registry *registry)
    'pyagent_registry_destroy': (None, [ctypes.POINTER(pyagent_registry)], ('registry',), 'registry.h'),
    # const char *pyagent_registry_last_error(const pyagent_registry *registry)
    'pyagent_registry_last_error': (ctypes.c_char_p, [ctypes.POINTER(pyagent_registry)], ('registry',), 'registry.h'),
    # pyagent_status pyagent_registry_add_model(pyagent_registry *registry, const char *name, const char *provider, const char *location, const char *remote_id)
    'pyagent_registry_add_model': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p], ('registry', 'name', 'provider', 'location', 'remote_id'), 'registry.h'),
    # pyagent_status pyagent_registry_remove_model(pyagent_registry *registry, const char *name)
    'pyagent_registry_remove_model': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p], ('registry', 'name'), 'registry.h'),
    # pyagent_status pyagent_registry_list(pyagent_registry *registry, char *names, size_t capacity, size_t *needed, size_t *count)
    'pyagent_registry_list': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)], ('registry', 'names', 'capacity', 'needed', 'count'), 'registry.h'),
    # pyagent_status pyagent_registry_record_f64(pyagent_registry *registry, const char *model, const char *key, double value, const char *source, int64_t measured_at, double confidence)
    'pyagent_registry_record_f64': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_char_p, ctypes.c_int64, ctypes.c_double], ('registry', 'model', 'key', 'value', 'source', 'measured_at', 'confidence'), 'registry.h'),
    # pyagent_status pyagent_registry_record_str(pyagent_registry *registry, const char *model, const char *key, const char *value, const char *source, int64_t measured_at, double confidence)
    'pyagent_registry_record_str': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_double], ('registry', 'model', 'key', 'value', 'source', 'measured_at', 'confidence'), 'registry.h'),
    # pyagent_status pyagent_registry_get_f64(pyagent_registry *registry, const char *model, const char *key, double *value, int64_t *measured_at)
    'pyagent_registry_get_f64': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64)], ('registry', 'model', 'key', 'value', 'measured_at'), 'registry.h'),
    # pyagent_status pyagent_registry_get_str(pyagent_registry *registry, const char *model, const char *key, char *value, size_t capacity, size_t *needed)
    'pyagent_registry_get_str': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('registry', 'model', 'key', 'value', 'capacity', 'needed'), 'registry.h'),
    # pyagent_status pyagent_registry_route(pyagent_registry *registry, const pyagent_params *requirements, pyagent_route **route)
    'pyagent_registry_route': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.POINTER(pyagent_params), ctypes.POINTER(ctypes.POINTER(pyagent_route))], ('registry', 'requirements', 'route'), 'registry.h'),
    # void pyagent_route_destroy(pyagent_route *route)
    'pyagent_route_destroy': (None, [ctypes.POINTER(pyagent_route)], ('route',), 'registry.h'),
    # const char *pyagent_route_model(const pyagent_route *route)
    'pyagent_route_model': (ctypes.c_char_p, [ctypes.POINTER(pyagent_route)], ('route',), 'registry.h'),
    # const char *pyagent_route_reason(const pyagent_route *route)
    'pyagent_route_reason': (ctypes.c_char_p, [ctypes.POINTER(pyagent_route)], ('route',), 'registry.h'),
    # pyagent_status pyagent_route_summary_get(const pyagent_route *route, pyagent_route_summary *summary)
    'pyagent_route_summary_get': (pyagent_status, [ctypes.POINTER(pyagent_route), ctypes.POINTER(pyagent_route_summary)], ('route', 'summary'), 'registry.h'),
    # size_t pyagent_route_n_rejected(const pyagent_route *route)
    'pyagent_route_n_rejected': (ctypes.c_size_t, [ctypes.POINTER(pyagent_route)], ('route',), 'registry.h'),
    # pyagent_status pyagent_route_rejection(pyagent_route *route, size_t index, const char **model, const char **reason)
    'pyagent_route_rejection': (pyagent_status, [ctypes.POINTER(pyagent_route), ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p)], ('route', 'index', 'model', 'reason'), 'registry.h'),
    # pyagent_status pyagent_registry_estimate_tokens(pyagent_registry *registry, const char *model, const char *text, int64_t text_len, int64_t *n_tokens, int32_t *method)
    'pyagent_registry_estimate_tokens': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int32)], ('registry', 'model', 'text', 'text_len', 'n_tokens', 'method'), 'registry.h'),
    # pyagent_status pyagent_registry_due(pyagent_registry *registry, int64_t now, char *names, size_t capacity, size_t *needed, size_t *count)
    'pyagent_registry_due': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_int64, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)], ('registry', 'now', 'names', 'capacity', 'needed', 'count'), 'registry.h'),
    # pyagent_status pyagent_registry_last_checked(pyagent_registry *registry, const char *model, int32_t what, int64_t *at)
    'pyagent_registry_last_checked': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int64)], ('registry', 'model', 'what', 'at'), 'registry.h'),
    # pyagent_status pyagent_registry_measure(pyagent_registry *registry, const char *model, const pyagent_params *params)
    'pyagent_registry_measure': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.POINTER(pyagent_params)], ('registry', 'model', 'params'), 'registry.h'),
    # pyagent_status pyagent_registry_import_json(pyagent_registry *registry, const char *json, size_t json_len, const char *source, int64_t measured_at, double confidence, int64_t *n_imported, int64_t *n_skipped, char **report)
    'pyagent_registry_import_json': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int64, ctypes.c_double, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.POINTER(ctypes.c_char))], ('registry', 'json', 'json_len', 'source', 'measured_at', 'confidence', 'n_imported', 'n_skipped', 'report'), 'registry.h'),
    # pyagent_status pyagent_registry_import_file(pyagent_registry *registry, const char *path, const char *source, int64_t measured_at, double confidence, int64_t *n_imported, int64_t *n_skipped, char **report)
    'pyagent_registry_import_file': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_double, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.POINTER(ctypes.c_char))], ('registry', 'path', 'source', 'measured_at', 'confidence', 'n_imported', 'n_skipped', 'report'), 'registry.h'),
    # pyagent_status pyagent_registry_export(pyagent_registry *registry, const char *model, int32_t flags, char **json, size_t *json_len)
    'pyagent_registry_export': (pyagent_status, [ctypes.POINTER(pyagent_registry), ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.POINTER(ctypes.c_char)), ctypes.POINTER(ctypes.c_size_t)], ('registry', 'model', 'flags', 'json', 'json_len'), 'registry.h'),
    # pyagent_status pyagent_semantic_cache_create(const pyagent_semantic_config *config, pyagent_semantic_cache **cache)
    'pyagent_semantic_cache_create': (pyagent_status, [ctypes.POINTER(pyagent_semantic_config), ctypes.POINTER(ctypes.POINTER(pyagent_semantic_cache))], ('config', 'cache'), 'semantic.h'),
    # void pyagent_semantic_cache_destroy(pyagent_semantic_cache *cache)
    'pyagent_semantic_cache_destroy': (None, [ctypes.POINTER(pyagent_semantic_cache)], ('cache',), 'semantic.h'),
    # pyagent_status pyagent_semantic_cache_get(pyagent_semantic_cache *cache, pyagent_engine *engine, const char *prompt, int64_t prompt_len, int32_t *hit, char *completion, size_t capacity, size_t *completion_len, double *similarity)
    'pyagent_semantic_cache_get': (pyagent_status, [ctypes.POINTER(pyagent_semantic_cache), ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_double)], ('cache', 'engine', 'prompt', 'prompt_len', 'hit', 'completion', 'capacity', 'completion_len', 'similarity'), 'semantic.h'),
    # pyagent_status pyagent_semantic_cache_put(pyagent_semantic_cache *cache, pyagent_engine *engine, const char *prompt, int64_t prompt_len, const char *completion, int64_t completion_len)
    'pyagent_semantic_cache_put': (pyagent_status, [ctypes.POINTER(pyagent_semantic_cache), ctypes.POINTER(pyagent_engine), ctypes.c_char_p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_int64], ('cache', 'engine', 'prompt', 'prompt_len', 'completion', 'completion_len'), 'semantic.h'),
    # pyagent_status pyagent_semantic_cache_stats_get(const pyagent_semantic_cache *cache, pyagent_semantic_stats *stats)
    'pyagent_semantic_cache_stats_get': (pyagent_status, [ctypes.POINTER(pyagent_semantic_cache), ctypes.POINTER(pyagent_semantic_stats)], ('cache', 'stats'), 'semantic.h'),
    # pyagent_status pyagent_spec_tree_create(int32_t max_nodes, pyagent_spec_tree **tree)
    'pyagent_spec_tree_create': (pyagent_status, [ctypes.c_int32, ctypes.POINTER(ctypes.POINTER(pyagent_spec_tree))], ('max_nodes', 'tree'), 'spec.h'),
    # void pyagent_spec_tree_destroy(pyagent_spec_tree *tree)
    'pyagent_spec_tree_destroy': (None, [ctypes.POINTER(pyagent_spec_tree)], ('tree',), 'spec.h'),
    # pyagent_status pyagent_spec_tree_clear(pyagent_spec_tree *tree)
    'pyagent_spec_tree_clear': (pyagent_status, [ctypes.POINTER(pyagent_spec_tree)], ('tree',), 'spec.h'),
    # pyagent_status pyagent_spec_tree_add(pyagent_spec_tree *tree, int32_t parent, int32_t token, float draft_logprob, int32_t *node)
    'pyagent_spec_tree_add': (pyagent_status, [ctypes.POINTER(pyagent_spec_tree), ctypes.c_int32, ctypes.c_int32, ctypes.c_float, ctypes.POINTER(ctypes.c_int32)], ('tree', 'parent', 'token', 'draft_logprob', 'node'), 'spec.h'),
    # int32_t pyagent_spec_tree_size(const pyagent_spec_tree *tree)
    'pyagent_spec_tree_size': (ctypes.c_int32, [ctypes.POINTER(pyagent_spec_tree)], ('tree',), 'spec.h'),
    # pyagent_status pyagent_spec_tree_node(const pyagent_spec_tree *tree, int32_t node, int32_t *token, int32_t *parent, int32_t *depth, float *draft_logprob, float *path_logprob)
    'pyagent_spec_tree_node': (pyagent_status, [ctypes.POINTER(pyagent_spec_tree), ctypes.c_int32, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)], ('tree', 'node', 'token', 'parent', 'depth', 'draft_logprob', 'path_logprob'), 'spec.h'),
    # pyagent_status pyagent_spec_tree_bfs(const pyagent_spec_tree *tree, int32_t *order, size_t capacity, size_t *needed)
    'pyagent_spec_tree_bfs': (pyagent_status, [ctypes.POINTER(pyagent_spec_tree), ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('tree', 'order', 'capacity', 'needed'), 'spec.h'),
    # pyagent_status pyagent_spec_tree_positions(const pyagent_spec_tree *tree, int32_t root_position, int32_t *positions, size_t capacity, size_t *needed)
    'pyagent_spec_tree_positions': (pyagent_status, [ctypes.POINTER(pyagent_spec_tree), ctypes.c_int32, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('tree', 'root_position', 'positions', 'capacity', 'needed'), 'spec.h'),
    # pyagent_status pyagent_spec_tree_mask(const pyagent_spec_tree *tree, uint8_t *mask, size_t capacity, size_t *needed)
    'pyagent_spec_tree_mask': (pyagent_status, [ctypes.POINTER(pyagent_spec_tree), ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('tree', 'mask', 'capacity', 'needed'), 'spec.h'),
    # pyagent_status pyagent_spec_tree_paths(const pyagent_spec_tree *tree, int32_t *nodes, size_t nodes_capacity, size_t *nodes_needed, int32_t *offsets, size_t offsets_capacity, size_t *offsets_needed)
    'pyagent_spec_tree_paths': (pyagent_status, [ctypes.POINTER(pyagent_spec_tree), ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)], ('tree', 'nodes', 'nodes_capacity', 'nodes_needed', 'offsets', 'offsets_capacity', 'offsets_needed'), 'spec.h'),
    # const char *pyagent_spec_tree_last_error(const pyagent_spec_tree *tree)
    'pyagent_spec_tree_last_error': (ctypes.c_char_p, [ctypes.POINTER(pyagent_spec_tree)], ('tree',), 'spec.h'),
}
