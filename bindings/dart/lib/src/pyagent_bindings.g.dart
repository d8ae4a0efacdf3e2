// dart:ffi declarations of libpyagent, GENERATED from include/pyagent/*.h. Do not edit.
//
// Regenerate with `python3 bindings/gen_bindings.py` from the repository root. With the Dart SDK,
// `dart run ffigen --config ffigen.yaml` gives the same API from the same headers.
// ignore_for_file: camel_case_types, non_constant_identifier_names, constant_identifier_names
// ignore_for_file: unused_field, unused_element

import 'dart:ffi' as ffi;

/// The headers these declarations were generated from.
const List<String> pyagentHeaders = ['pyagent.h', 'agent.h', 'engine.h', 'kv.h', 'latent.h', 'registry.h', 'semantic.h', 'spec.h'];

// pyagent.h
const int PYAGENT_VERSION_MAJOR = 0;
const int PYAGENT_VERSION_MINOR = 1;
const int PYAGENT_VERSION_PATCH = 0;
const int PYAGENT_VERSION_NUMBER = 100;
const int PYAGENT_ABI_VERSION = 1;
const int PYAGENT_OK = 0;
const int PYAGENT_ERR_INVALID_ARGUMENT = 1;
const int PYAGENT_ERR_OUT_OF_MEMORY = 2;
const int PYAGENT_ERR_IO = 3;
const int PYAGENT_ERR_BAD_MODEL = 4;
const int PYAGENT_ERR_UNSUPPORTED = 5;
const int PYAGENT_ERR_UNKNOWN_KEY = 6;
const int PYAGENT_ERR_OUT_OF_RANGE = 7;
const int PYAGENT_ERR_BUFFER_TOO_SMALL = 8;
const int PYAGENT_ERR_CONTEXT_FULL = 9;
const int PYAGENT_ERR_ABI_MISMATCH = 10;
const int PYAGENT_ERR_INVALID_UTF8 = 11;
const int PYAGENT_ERR_INVALID_TOKEN = 12;
const int PYAGENT_ERR_BUSY = 13;
const int PYAGENT_ERR_INTERNAL = 14;
const int PYAGENT_ERR_NO_MODEL = 15;
const int PYAGENT_ERR_DATABASE = 16;
const int PYAGENT_ERR_KV_FULL = 17;
const int PYAGENT_ERR_MISMATCH = 18;
const int PYAGENT_ERR_BAD_PACKET = 19;
const int PYAGENT_LOG_DEBUG = 0;
const int PYAGENT_LOG_INFO = 1;
const int PYAGENT_LOG_WARN = 2;
const int PYAGENT_LOG_ERROR = 3;
const int PYAGENT_LOG_NONE = 4;
const int PYAGENT_SPEC_OFF = 0;
const int PYAGENT_SPEC_LOOKUP = 1;
const int PYAGENT_SPEC_SELF = 2;
const int PYAGENT_SPEC_DRAFT = 3;
const int PYAGENT_KV_POLICY_WINDOW = 0;
const int PYAGENT_KV_POLICY_H2O = 1;
const int PYAGENT_KV_POLICY_KVZAP = 2;
const int PYAGENT_SPEC_TREE_STATIC = 0;
const int PYAGENT_SPEC_TREE_EAGLE2 = 1;
const int PYAGENT_SPEC_TREE_TALON = 2;
const int PYAGENT_KV_F32 = 0;
const int PYAGENT_KV_F16 = 1;
const int PYAGENT_KV_Q8_0 = 2;
const int PYAGENT_BACKEND_CPU = 0;
const int PYAGENT_BACKEND_CUDA = 1;
const int PYAGENT_PARAMS_ENGINE = 1;
const int PYAGENT_PARAMS_SAMPLER = 2;
const int PYAGENT_PARAMS_REGISTRY = 3;
const int PYAGENT_PARAMS_ROUTE = 4;

// agent.h
const int PYAGENT_TOKEN_EMBEDDING = -1;
const int PYAGENT_FINISH_LENGTH = 1;
const int PYAGENT_FINISH_EOS = 2;
const int PYAGENT_FINISH_STOP = 3;
const int PYAGENT_FINISH_CANCELLED = 4;
const int PYAGENT_FINISH_CONTEXT = 5;

// engine.h
const int PYAGENT_TOKENIZE_ADD_SPECIAL = 1;
const int PYAGENT_TOKENIZE_PARSE_SPECIAL = 2;
const int PYAGENT_DETOKENIZE_SPECIAL = 1;
const int PYAGENT_DETOKENIZE_STRIP_LEADING_SPACE = 2;

// latent.h
const int PYAGENT_LATENT_F16 = 0;
const int PYAGENT_LATENT_Q8_0 = 1;
const int PYAGENT_LATENT_F32 = 2;

// registry.h
const int PYAGENT_ESTIMATE_TOKENIZER = 1;
const int PYAGENT_ESTIMATE_HEURISTIC = 2;
const int PYAGENT_CHECK_CAPABILITIES = 1;
const int PYAGENT_CHECK_PRICES = 2;
const int PYAGENT_CHECK_MEASUREMENTS = 4;
const int PYAGENT_EXPORT_HISTORY = 1;

// spec.h
const int PYAGENT_SPEC_TREE_MAX_NODES = 16384;

typedef pyagent_status = ffi.Int32;
typedef Dartpyagent_status = int;

/// Opaque handle (pyagent.h).
final class pyagent_params extends ffi.Opaque {}

/// Opaque handle (agent.h).
final class pyagent_agent extends ffi.Opaque {}

/// Opaque handle (agent.h).
final class pyagent_spec_tree extends ffi.Opaque {}

/// Opaque handle (engine.h).
final class pyagent_engine extends ffi.Opaque {}

/// Opaque handle (kv.h).
final class pyagent_kv_store extends ffi.Opaque {}

/// Opaque handle (latent.h).
final class pyagent_latent_packet extends ffi.Opaque {}

/// Opaque handle (latent.h).
final class pyagent_adapter extends ffi.Opaque {}

/// Opaque handle (registry.h).
final class pyagent_registry extends ffi.Opaque {}

/// Opaque handle (registry.h).
final class pyagent_route extends ffi.Opaque {}

/// Opaque handle (semantic.h).
final class pyagent_semantic_cache extends ffi.Opaque {}

/// Opaque handle (spec.h).
final class pyagent_spec_tree extends ffi.Opaque {}

/// struct pyagent_agent_stats (agent.h).
final class pyagent_agent_stats extends ffi.Struct {
  @ffi.Uint32()
  external int struct_size;
  @ffi.Uint32()
  external int reserved;
  @ffi.Int64()
  external int n_prompt_tokens;
  @ffi.Int64()
  external int n_generated_tokens;
  @ffi.Double()
  external double prefill_seconds;
  @ffi.Double()
  external double decode_seconds;
  @ffi.Int64()
  external int n_cached_tokens;
  @ffi.Int64()
  external int n_drafted_tokens;
  @ffi.Int64()
  external int n_accepted_tokens;
  @ffi.Int64()
  external int n_verify_steps;
  @ffi.Double()
  external double draft_seconds;
  @ffi.Int64()
  external int n_imported_tokens;
  @ffi.Int64()
  external int n_pruned_tokens;
  @ffi.Int64()
  external int n_landmarks;
  @ffi.Int64()
  external int landmark_bytes;
}

/// struct pyagent_tensor_info (engine.h).
final class pyagent_tensor_info extends ffi.Struct {
  @ffi.Uint32()
  external int struct_size;
  @ffi.Uint32()
  external int n_dims;
  external ffi.Pointer<ffi.Char> name;
  external ffi.Pointer<ffi.Char> type;
  @ffi.Array(4)
  external ffi.Array<ffi.Int64> dims;
  @ffi.Int64()
  external int n_bytes;
}

/// struct pyagent_kv_stats (kv.h).
final class pyagent_kv_stats extends ffi.Struct {
  @ffi.Uint32()
  external int struct_size;
  @ffi.Uint32()
  external int block_size;
  @ffi.Int64()
  external int block_bytes;
  @ffi.Int64()
  external int n_blocks;
  @ffi.Int64()
  external int n_used;
  @ffi.Int64()
  external int n_cached;
  @ffi.Int64()
  external int n_free;
  @ffi.Int64()
  external int n_prefix_hit_tokens;
  @ffi.Int64()
  external int n_prompt_tokens_computed;
  @ffi.Int64()
  external int n_evictions;
  @ffi.Int64()
  external int n_cow_copies;
  @ffi.Int64()
  external int peak_used_bytes;
  @ffi.Int64()
  external int n_disk_spilled;
  @ffi.Int64()
  external int n_disk_restored;
  @ffi.Int64()
  external int n_disk_rejected;
  @ffi.Int64()
  external int disk_bytes;
  @ffi.Int64()
  external int n_redis_spilled;
  @ffi.Int64()
  external int n_redis_restored;
  @ffi.Int64()
  external int n_redis_rejected;
  @ffi.Int64()
  external int redis_bytes;
  @ffi.Int64()
  external int n_host_spilled;
  @ffi.Int64()
  external int n_host_restored;
  @ffi.Int64()
  external int n_host_rejected;
  @ffi.Int64()
  external int host_bytes;
}

/// struct pyagent_kv_node (kv.h).
final class pyagent_kv_node extends ffi.Struct {
  @ffi.Uint64()
  external int key;
  @ffi.Uint64()
  external int parent_key;
  @ffi.Int32()
  external int refcount;
  @ffi.Int32()
  external int n_children;
}

/// struct pyagent_kvzap_info (kv.h).
final class pyagent_kvzap_info extends ffi.Struct {
  @ffi.Uint32()
  external int struct_size;
  @ffi.Uint32()
  external int reserved;
  @ffi.Int64()
  external int n_layer;
  @ffi.Int64()
  external int n_head_kv;
  @ffi.Int64()
  external int n_embd;
  @ffi.Int64()
  external int n_texts;
  @ffi.Int64()
  external int n_train;
  @ffi.Int64()
  external int n_heldout;
  @ffi.Double()
  external double ridge;
  @ffi.Double()
  external double r2_heldout;
  @ffi.Double()
  external double top_overlap;
  @ffi.Uint64()
  external int fingerprint;
}

/// struct pyagent_adapter_info (latent.h).
final class pyagent_adapter_info extends ffi.Struct {
  @ffi.Uint32()
  external int struct_size;
  @ffi.Uint32()
  external int reserved;
  @ffi.Int64()
  external int dim_in;
  @ffi.Int64()
  external int dim_out;
  @ffi.Int64()
  external int n_train;
  @ffi.Int64()
  external int n_heldout;
  @ffi.Double()
  external double ridge;
  @ffi.Double()
  external double r2_train;
  @ffi.Double()
  external double r2_heldout;
  @ffi.Double()
  external double top1_heldout;
  @ffi.Uint64()
  external int fingerprint_in;
  @ffi.Uint64()
  external int fingerprint_out;
}

/// struct pyagent_route_summary (registry.h).
final class pyagent_route_summary extends ffi.Struct {
  @ffi.Uint32()
  external int struct_size;
  @ffi.Uint32()
  external int reserved;
  @ffi.Int64()
  external int n_models;
  @ffi.Int64()
  external int n_qualified;
  @ffi.Double()
  external double estimated_cost;
  @ffi.Double()
  external double estimated_latency_ms;
  @ffi.Double()
  external double quality;
}

/// struct pyagent_semantic_config (semantic.h).
final class pyagent_semantic_config extends ffi.Struct {
  @ffi.Uint32()
  external int struct_size;
  @ffi.Uint32()
  external int n_bits;
  @ffi.Uint32()
  external int n_tables;
  @ffi.Uint32()
  external int reserved;
  @ffi.Double()
  external double threshold;
  @ffi.Int64()
  external int max_entries;
  @ffi.Double()
  external double max_age_s;
  @ffi.Uint64()
  external int seed;
}

/// struct pyagent_semantic_stats (semantic.h).
final class pyagent_semantic_stats extends ffi.Struct {
  @ffi.Uint32()
  external int struct_size;
  @ffi.Uint32()
  external int reserved;
  @ffi.Int64()
  external int n_entries;
  @ffi.Int64()
  external int n_puts;
  @ffi.Int64()
  external int n_hits;
  @ffi.Int64()
  external int n_misses;
  @ffi.Int64()
  external int n_expired;
  @ffi.Int64()
  external int n_compared;
}

typedef pyagent_log_fnFunction = ffi.Void Function(ffi.Pointer<ffi.Void> user_data, ffi.Int32 level, ffi.Pointer<ffi.Char> message);
typedef Dartpyagent_log_fnFunction = void Function(ffi.Pointer<ffi.Void> user_data, int level, ffi.Pointer<ffi.Char> message);
typedef pyagent_log_fn = ffi.Pointer<ffi.NativeFunction<pyagent_log_fnFunction>>;

typedef pyagent_token_fnFunction = ffi.Void Function(ffi.Pointer<ffi.Void> user_data, ffi.Int32 token, ffi.Pointer<ffi.Char> text, ffi.Size text_len);
typedef Dartpyagent_token_fnFunction = void Function(ffi.Pointer<ffi.Void> user_data, int token, ffi.Pointer<ffi.Char> text, int text_len);
typedef pyagent_token_fn = ffi.Pointer<ffi.NativeFunction<pyagent_token_fnFunction>>;

/// Every exported function of libpyagent, looked up in a [ffi.DynamicLibrary].
class PyagentBindings {
  final ffi.Pointer<T> Function<T extends ffi.NativeType>(String symbolName) _lookup;

  PyagentBindings(ffi.DynamicLibrary dynamicLibrary) : _lookup = dynamicLibrary.lookup;

  PyagentBindings.fromLookup(
      ffi.Pointer<T> Function<T extends ffi.NativeType>(String symbolName) lookup)
      : _lookup = lookup;

  /// Native addresses of the functions, for [ffi.NativeFinalizer] and callbacks.
  late final addresses = PyagentSymbolAddresses(this);

  /// `uint32_t pyagent_version_number(void)` (pyagent.h)
  int pyagent_version_number() {
    return _pyagent_version_number();
  }

  late final _pyagent_version_numberPtr =
      _lookup<ffi.NativeFunction<ffi.Uint32 Function()>>('pyagent_version_number');
  late final _pyagent_version_number = _pyagent_version_numberPtr.asFunction<int Function()>();

  /// `const char *pyagent_version_string(void)` (pyagent.h)
  ffi.Pointer<ffi.Char> pyagent_version_string() {
    return _pyagent_version_string();
  }

  late final _pyagent_version_stringPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function()>>('pyagent_version_string');
  late final _pyagent_version_string = _pyagent_version_stringPtr.asFunction<ffi.Pointer<ffi.Char> Function()>();

  /// `int32_t pyagent_abi_version(void)` (pyagent.h)
  int pyagent_abi_version() {
    return _pyagent_abi_version();
  }

  late final _pyagent_abi_versionPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function()>>('pyagent_abi_version');
  late final _pyagent_abi_version = _pyagent_abi_versionPtr.asFunction<int Function()>();

  /// `pyagent_status pyagent_check_abi(int32_t abi_version)` (pyagent.h)
  int pyagent_check_abi(int abi_version) {
    return _pyagent_check_abi(abi_version);
  }

  late final _pyagent_check_abiPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Int32)>>('pyagent_check_abi');
  late final _pyagent_check_abi = _pyagent_check_abiPtr.asFunction<int Function(int)>();

  /// `const char *pyagent_status_str(pyagent_status status)` (pyagent.h)
  ffi.Pointer<ffi.Char> pyagent_status_str(int status) {
    return _pyagent_status_str(status);
  }

  late final _pyagent_status_strPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Int32)>>('pyagent_status_str');
  late final _pyagent_status_str = _pyagent_status_strPtr.asFunction<ffi.Pointer<ffi.Char> Function(int)>();

  /// `void pyagent_free(void *ptr)` (pyagent.h)
  void pyagent_free(ffi.Pointer<ffi.Void> ptr) {
    return _pyagent_free(ptr);
  }

  late final _pyagent_freePtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<ffi.Void>)>>('pyagent_free');
  late final _pyagent_free = _pyagent_freePtr.asFunction<void Function(ffi.Pointer<ffi.Void>)>();

  /// `pyagent_params *pyagent_params_create(int32_t kind)` (pyagent.h)
  ffi.Pointer<pyagent_params> pyagent_params_create(int kind) {
    return _pyagent_params_create(kind);
  }

  late final _pyagent_params_createPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<pyagent_params> Function(ffi.Int32)>>('pyagent_params_create');
  late final _pyagent_params_create = _pyagent_params_createPtr.asFunction<ffi.Pointer<pyagent_params> Function(int)>();

  /// `void pyagent_params_destroy(pyagent_params *params)` (pyagent.h)
  void pyagent_params_destroy(ffi.Pointer<pyagent_params> params) {
    return _pyagent_params_destroy(params);
  }

  late final _pyagent_params_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_params>)>>('pyagent_params_destroy');
  late final _pyagent_params_destroy = _pyagent_params_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_params>)>();

  /// `pyagent_status pyagent_params_set_i64(pyagent_params *params, const char *key, int64_t value)` (pyagent.h)
  int pyagent_params_set_i64(ffi.Pointer<pyagent_params> params, ffi.Pointer<ffi.Char> key, int value) {
    return _pyagent_params_set_i64(params, key, value);
  }

  late final _pyagent_params_set_i64Ptr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Int64)>>('pyagent_params_set_i64');
  late final _pyagent_params_set_i64 = _pyagent_params_set_i64Ptr.asFunction<int Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, int)>();

  /// `pyagent_status pyagent_params_set_f64(pyagent_params *params, const char *key, double value)` (pyagent.h)
  int pyagent_params_set_f64(ffi.Pointer<pyagent_params> params, ffi.Pointer<ffi.Char> key, double value) {
    return _pyagent_params_set_f64(params, key, value);
  }

  late final _pyagent_params_set_f64Ptr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Double)>>('pyagent_params_set_f64');
  late final _pyagent_params_set_f64 = _pyagent_params_set_f64Ptr.asFunction<int Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, double)>();

  /// `pyagent_status pyagent_params_get_i64(const pyagent_params *params, const char *key, int64_t *value)` (pyagent.h)
  int pyagent_params_get_i64(ffi.Pointer<pyagent_params> params, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Int64> value) {
    return _pyagent_params_get_i64(params, key, value);
  }

  late final _pyagent_params_get_i64Ptr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>>('pyagent_params_get_i64');
  late final _pyagent_params_get_i64 = _pyagent_params_get_i64Ptr.asFunction<int Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>();

  /// `pyagent_status pyagent_params_get_f64(const pyagent_params *params, const char *key, double *value)` (pyagent.h)
  int pyagent_params_get_f64(ffi.Pointer<pyagent_params> params, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Double> value) {
    return _pyagent_params_get_f64(params, key, value);
  }

  late final _pyagent_params_get_f64Ptr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>)>>('pyagent_params_get_f64');
  late final _pyagent_params_get_f64 = _pyagent_params_get_f64Ptr.asFunction<int Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>)>();

  /// `pyagent_status pyagent_params_set_str(pyagent_params *params, const char *key, const char *value)` (pyagent.h)
  int pyagent_params_set_str(ffi.Pointer<pyagent_params> params, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Char> value) {
    return _pyagent_params_set_str(params, key, value);
  }

  late final _pyagent_params_set_strPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>>('pyagent_params_set_str');
  late final _pyagent_params_set_str = _pyagent_params_set_strPtr.asFunction<int Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_params_get_str(const pyagent_params *params, const char *key, char *value, size_t capacity, size_t *needed)` (pyagent.h)
  int pyagent_params_get_str(ffi.Pointer<pyagent_params> params, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Char> value, int capacity, ffi.Pointer<ffi.Size> needed) {
    return _pyagent_params_get_str(params, key, value, capacity, needed);
  }

  late final _pyagent_params_get_strPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_params_get_str');
  late final _pyagent_params_get_str = _pyagent_params_get_strPtr.asFunction<int Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_params_bounds(int32_t kind, const char *key, double *min, double *max)` (pyagent.h)
  int pyagent_params_bounds(int kind, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Double> min, ffi.Pointer<ffi.Double> max) {
    return _pyagent_params_bounds(kind, key, min, max);
  }

  late final _pyagent_params_boundsPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>, ffi.Pointer<ffi.Double>)>>('pyagent_params_bounds');
  late final _pyagent_params_bounds = _pyagent_params_boundsPtr.asFunction<int Function(int, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>, ffi.Pointer<ffi.Double>)>();

  /// `const char *pyagent_params_last_error(const pyagent_params *params)` (pyagent.h)
  ffi.Pointer<ffi.Char> pyagent_params_last_error(ffi.Pointer<pyagent_params> params) {
    return _pyagent_params_last_error(params);
  }

  late final _pyagent_params_last_errorPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_params>)>>('pyagent_params_last_error');
  late final _pyagent_params_last_error = _pyagent_params_last_errorPtr.asFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_params>)>();

  /// `pyagent_status pyagent_agent_create(pyagent_engine *engine, const pyagent_params *sampler, pyagent_agent **agent)` (agent.h)
  int pyagent_agent_create(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<pyagent_params> sampler, ffi.Pointer<ffi.Pointer<pyagent_agent>> agent) {
    return _pyagent_agent_create(engine, sampler, agent);
  }

  late final _pyagent_agent_createPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>>('pyagent_agent_create');
  late final _pyagent_agent_create = _pyagent_agent_createPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>();

  /// `void pyagent_agent_destroy(pyagent_agent *agent)` (agent.h)
  void pyagent_agent_destroy(ffi.Pointer<pyagent_agent> agent) {
    return _pyagent_agent_destroy(agent);
  }

  late final _pyagent_agent_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_agent>)>>('pyagent_agent_destroy');
  late final _pyagent_agent_destroy = _pyagent_agent_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_agent>)>();

  /// `const char *pyagent_agent_last_error(const pyagent_agent *agent)` (agent.h)
  ffi.Pointer<ffi.Char> pyagent_agent_last_error(ffi.Pointer<pyagent_agent> agent) {
    return _pyagent_agent_last_error(agent);
  }

  late final _pyagent_agent_last_errorPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_agent>)>>('pyagent_agent_last_error');
  late final _pyagent_agent_last_error = _pyagent_agent_last_errorPtr.asFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_agent>)>();

  /// `pyagent_status pyagent_agent_set_sampler(pyagent_agent *agent, const pyagent_params *sampler)` (agent.h)
  int pyagent_agent_set_sampler(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<pyagent_params> sampler) {
    return _pyagent_agent_set_sampler(agent, sampler);
  }

  late final _pyagent_agent_set_samplerPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_params>)>>('pyagent_agent_set_sampler');
  late final _pyagent_agent_set_sampler = _pyagent_agent_set_samplerPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_params>)>();

  /// `pyagent_status pyagent_agent_feed_text(pyagent_agent *agent, const char *text, int64_t text_len)` (agent.h)
  int pyagent_agent_feed_text(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Char> text, int text_len) {
    return _pyagent_agent_feed_text(agent, text, text_len);
  }

  late final _pyagent_agent_feed_textPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, ffi.Int64)>>('pyagent_agent_feed_text');
  late final _pyagent_agent_feed_text = _pyagent_agent_feed_textPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, int)>();

  /// `pyagent_status pyagent_agent_feed_tokens(pyagent_agent *agent, const int32_t *tokens, size_t n_tokens)` (agent.h)
  int pyagent_agent_feed_tokens(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Int32> tokens, int n_tokens) {
    return _pyagent_agent_feed_tokens(agent, tokens, n_tokens);
  }

  late final _pyagent_agent_feed_tokensPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>, ffi.Size)>>('pyagent_agent_feed_tokens');
  late final _pyagent_agent_feed_tokens = _pyagent_agent_feed_tokensPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>, int)>();

  /// `pyagent_status pyagent_agent_feed_embeddings(pyagent_agent *agent, const float *rows, size_t n_rows, size_t dim)` (agent.h)
  int pyagent_agent_feed_embeddings(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Float> rows, int n_rows, int dim) {
    return _pyagent_agent_feed_embeddings(agent, rows, n_rows, dim);
  }

  late final _pyagent_agent_feed_embeddingsPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Size)>>('pyagent_agent_feed_embeddings');
  late final _pyagent_agent_feed_embeddings = _pyagent_agent_feed_embeddingsPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, int, int)>();

  /// `pyagent_status pyagent_agent_prefill(pyagent_agent *agent)` (agent.h)
  int pyagent_agent_prefill(ffi.Pointer<pyagent_agent> agent) {
    return _pyagent_agent_prefill(agent);
  }

  late final _pyagent_agent_prefillPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>)>>('pyagent_agent_prefill');
  late final _pyagent_agent_prefill = _pyagent_agent_prefillPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>)>();

  /// `pyagent_status pyagent_agent_logits(pyagent_agent *agent, float *logits, size_t capacity, size_t *n_logits)` (agent.h)
  int pyagent_agent_logits(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Float> logits, int capacity, ffi.Pointer<ffi.Size> n_logits) {
    return _pyagent_agent_logits(agent, logits, capacity, n_logits);
  }

  late final _pyagent_agent_logitsPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_agent_logits');
  late final _pyagent_agent_logits = _pyagent_agent_logitsPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_agent_hidden(pyagent_agent *agent, float *hidden, size_t capacity, size_t *n_floats)` (agent.h)
  int pyagent_agent_hidden(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Float> hidden, int capacity, ffi.Pointer<ffi.Size> n_floats) {
    return _pyagent_agent_hidden(agent, hidden, capacity, n_floats);
  }

  late final _pyagent_agent_hiddenPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_agent_hidden');
  late final _pyagent_agent_hidden = _pyagent_agent_hiddenPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_agent_add_stop(pyagent_agent *agent, const char *stop, int64_t stop_len)` (agent.h)
  int pyagent_agent_add_stop(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Char> stop, int stop_len) {
    return _pyagent_agent_add_stop(agent, stop, stop_len);
  }

  late final _pyagent_agent_add_stopPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, ffi.Int64)>>('pyagent_agent_add_stop');
  late final _pyagent_agent_add_stop = _pyagent_agent_add_stopPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, int)>();

  /// `pyagent_status pyagent_agent_clear_stops(pyagent_agent *agent)` (agent.h)
  int pyagent_agent_clear_stops(ffi.Pointer<pyagent_agent> agent) {
    return _pyagent_agent_clear_stops(agent);
  }

  late final _pyagent_agent_clear_stopsPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>)>>('pyagent_agent_clear_stops');
  late final _pyagent_agent_clear_stops = _pyagent_agent_clear_stopsPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>)>();

  /// `pyagent_status pyagent_agent_generate(pyagent_agent *agent, int32_t max_tokens, pyagent_token_fn on_token, void *user_data, int32_t *finish_reason)` (agent.h)
  int pyagent_agent_generate(ffi.Pointer<pyagent_agent> agent, int max_tokens, pyagent_token_fn on_token, ffi.Pointer<ffi.Void> user_data, ffi.Pointer<ffi.Int32> finish_reason) {
    return _pyagent_agent_generate(agent, max_tokens, on_token, user_data, finish_reason);
  }

  late final _pyagent_agent_generatePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Int32, pyagent_token_fn, ffi.Pointer<ffi.Void>, ffi.Pointer<ffi.Int32>)>>('pyagent_agent_generate');
  late final _pyagent_agent_generate = _pyagent_agent_generatePtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, int, pyagent_token_fn, ffi.Pointer<ffi.Void>, ffi.Pointer<ffi.Int32>)>();

  /// `void pyagent_agent_cancel(pyagent_agent *agent)` (agent.h)
  void pyagent_agent_cancel(ffi.Pointer<pyagent_agent> agent) {
    return _pyagent_agent_cancel(agent);
  }

  late final _pyagent_agent_cancelPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_agent>)>>('pyagent_agent_cancel');
  late final _pyagent_agent_cancel = _pyagent_agent_cancelPtr.asFunction<void Function(ffi.Pointer<pyagent_agent>)>();

  /// `pyagent_status pyagent_agent_tokens(pyagent_agent *agent, int32_t *tokens, size_t capacity, size_t *n_tokens)` (agent.h)
  int pyagent_agent_tokens(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Int32> tokens, int capacity, ffi.Pointer<ffi.Size> n_tokens) {
    return _pyagent_agent_tokens(agent, tokens, capacity, n_tokens);
  }

  late final _pyagent_agent_tokensPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_agent_tokens');
  late final _pyagent_agent_tokens = _pyagent_agent_tokensPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_agent_reset(pyagent_agent *agent)` (agent.h)
  int pyagent_agent_reset(ffi.Pointer<pyagent_agent> agent) {
    return _pyagent_agent_reset(agent);
  }

  late final _pyagent_agent_resetPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>)>>('pyagent_agent_reset');
  late final _pyagent_agent_reset = _pyagent_agent_resetPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>)>();

  /// `pyagent_status pyagent_agent_fork(pyagent_agent *agent, pyagent_agent **child)` (agent.h)
  int pyagent_agent_fork(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Pointer<pyagent_agent>> child) {
    return _pyagent_agent_fork(agent, child);
  }

  late final _pyagent_agent_forkPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>>('pyagent_agent_fork');
  late final _pyagent_agent_fork = _pyagent_agent_forkPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>();

  /// `pyagent_status pyagent_agent_rewind(pyagent_agent *agent, size_t n_tokens)` (agent.h)
  int pyagent_agent_rewind(ffi.Pointer<pyagent_agent> agent, int n_tokens) {
    return _pyagent_agent_rewind(agent, n_tokens);
  }

  late final _pyagent_agent_rewindPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Size)>>('pyagent_agent_rewind');
  late final _pyagent_agent_rewind = _pyagent_agent_rewindPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, int)>();

  /// `pyagent_status pyagent_agent_set_label(pyagent_agent *agent, const char *key, const char *value)` (agent.h)
  int pyagent_agent_set_label(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Char> value) {
    return _pyagent_agent_set_label(agent, key, value);
  }

  late final _pyagent_agent_set_labelPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>>('pyagent_agent_set_label');
  late final _pyagent_agent_set_label = _pyagent_agent_set_labelPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>();

  /// `const char *pyagent_agent_get_label(const pyagent_agent *agent, const char *key)` (agent.h)
  ffi.Pointer<ffi.Char> pyagent_agent_get_label(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Char> key) {
    return _pyagent_agent_get_label(agent, key);
  }

  late final _pyagent_agent_get_labelPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>>('pyagent_agent_get_label');
  late final _pyagent_agent_get_label = _pyagent_agent_get_labelPtr.asFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_agent_submit(pyagent_agent *agent, int32_t max_tokens, pyagent_token_fn on_token, void *user_data)` (agent.h)
  int pyagent_agent_submit(ffi.Pointer<pyagent_agent> agent, int max_tokens, pyagent_token_fn on_token, ffi.Pointer<ffi.Void> user_data) {
    return _pyagent_agent_submit(agent, max_tokens, on_token, user_data);
  }

  late final _pyagent_agent_submitPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Int32, pyagent_token_fn, ffi.Pointer<ffi.Void>)>>('pyagent_agent_submit');
  late final _pyagent_agent_submit = _pyagent_agent_submitPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, int, pyagent_token_fn, ffi.Pointer<ffi.Void>)>();

  /// `pyagent_status pyagent_agent_poll(pyagent_agent *agent, int32_t *finish_reason)` (agent.h)
  int pyagent_agent_poll(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Int32> finish_reason) {
    return _pyagent_agent_poll(agent, finish_reason);
  }

  late final _pyagent_agent_pollPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>)>>('pyagent_agent_poll');
  late final _pyagent_agent_poll = _pyagent_agent_pollPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>)>();

  /// `pyagent_status pyagent_agent_draft(pyagent_agent *agent, const pyagent_spec_tree *tree)` (agent.h)
  int pyagent_agent_draft(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<pyagent_spec_tree> tree) {
    return _pyagent_agent_draft(agent, tree);
  }

  late final _pyagent_agent_draftPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_spec_tree>)>>('pyagent_agent_draft');
  late final _pyagent_agent_draft = _pyagent_agent_draftPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_spec_tree>)>();

  /// `pyagent_status pyagent_agent_save(pyagent_agent *agent, const char *path)` (agent.h)
  int pyagent_agent_save(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Char> path) {
    return _pyagent_agent_save(agent, path);
  }

  late final _pyagent_agent_savePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>>('pyagent_agent_save');
  late final _pyagent_agent_save = _pyagent_agent_savePtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_agent_load(pyagent_engine *engine, const char *path, pyagent_agent **agent)` (agent.h)
  int pyagent_agent_load(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> path, ffi.Pointer<ffi.Pointer<pyagent_agent>> agent) {
    return _pyagent_agent_load(engine, path, agent);
  }

  late final _pyagent_agent_loadPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>>('pyagent_agent_load');
  late final _pyagent_agent_load = _pyagent_agent_loadPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>();

  /// `pyagent_status pyagent_agent_checkpoint(pyagent_agent *agent, const char *dir)` (agent.h)
  int pyagent_agent_checkpoint(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<ffi.Char> dir) {
    return _pyagent_agent_checkpoint(agent, dir);
  }

  late final _pyagent_agent_checkpointPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>>('pyagent_agent_checkpoint');
  late final _pyagent_agent_checkpoint = _pyagent_agent_checkpointPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_agent_restore(pyagent_engine *engine, const char *dir, pyagent_agent **agent)` (agent.h)
  int pyagent_agent_restore(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> dir, ffi.Pointer<ffi.Pointer<pyagent_agent>> agent) {
    return _pyagent_agent_restore(engine, dir, agent);
  }

  late final _pyagent_agent_restorePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>>('pyagent_agent_restore');
  late final _pyagent_agent_restore = _pyagent_agent_restorePtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>();

  /// `pyagent_status pyagent_agent_stats_get(const pyagent_agent *agent, pyagent_agent_stats *stats)` (agent.h)
  int pyagent_agent_stats_get(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<pyagent_agent_stats> stats) {
    return _pyagent_agent_stats_get(agent, stats);
  }

  late final _pyagent_agent_stats_getPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_agent_stats>)>>('pyagent_agent_stats_get');
  late final _pyagent_agent_stats_get = _pyagent_agent_stats_getPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_agent_stats>)>();

  /// `pyagent_status pyagent_engine_open(const char *path, const pyagent_params *params, pyagent_engine **engine)` (engine.h)
  int pyagent_engine_open(ffi.Pointer<ffi.Char> path, ffi.Pointer<pyagent_params> params, ffi.Pointer<ffi.Pointer<pyagent_engine>> engine) {
    return _pyagent_engine_open(path, params, engine);
  }

  late final _pyagent_engine_openPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_engine>>)>>('pyagent_engine_open');
  late final _pyagent_engine_open = _pyagent_engine_openPtr.asFunction<int Function(ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_engine>>)>();

  /// `void pyagent_engine_destroy(pyagent_engine *engine)` (engine.h)
  void pyagent_engine_destroy(ffi.Pointer<pyagent_engine> engine) {
    return _pyagent_engine_destroy(engine);
  }

  late final _pyagent_engine_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_engine>)>>('pyagent_engine_destroy');
  late final _pyagent_engine_destroy = _pyagent_engine_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_engine>)>();

  /// `const char *pyagent_engine_last_error(const pyagent_engine *engine)` (engine.h)
  ffi.Pointer<ffi.Char> pyagent_engine_last_error(ffi.Pointer<pyagent_engine> engine) {
    return _pyagent_engine_last_error(engine);
  }

  late final _pyagent_engine_last_errorPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_engine>)>>('pyagent_engine_last_error');
  late final _pyagent_engine_last_error = _pyagent_engine_last_errorPtr.asFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_engine>)>();

  /// `pyagent_status pyagent_engine_set_log(pyagent_engine *engine, int32_t min_level, pyagent_log_fn fn, void *user_data)` (engine.h)
  int pyagent_engine_set_log(ffi.Pointer<pyagent_engine> engine, int min_level, pyagent_log_fn fn, ffi.Pointer<ffi.Void> user_data) {
    return _pyagent_engine_set_log(engine, min_level, fn, user_data);
  }

  late final _pyagent_engine_set_logPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Int32, pyagent_log_fn, ffi.Pointer<ffi.Void>)>>('pyagent_engine_set_log');
  late final _pyagent_engine_set_log = _pyagent_engine_set_logPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, int, pyagent_log_fn, ffi.Pointer<ffi.Void>)>();

  /// `pyagent_status pyagent_engine_info(const pyagent_engine *engine, const char *key, int64_t *value)` (engine.h)
  int pyagent_engine_info(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Int64> value) {
    return _pyagent_engine_info(engine, key, value);
  }

  late final _pyagent_engine_infoPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>>('pyagent_engine_info');
  late final _pyagent_engine_info = _pyagent_engine_infoPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>();

  /// `pyagent_status pyagent_engine_meta_str(const pyagent_engine *engine, const char *key, char *value, size_t capacity, size_t *needed)` (engine.h)
  int pyagent_engine_meta_str(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Char> value, int capacity, ffi.Pointer<ffi.Size> needed) {
    return _pyagent_engine_meta_str(engine, key, value, capacity, needed);
  }

  late final _pyagent_engine_meta_strPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_engine_meta_str');
  late final _pyagent_engine_meta_str = _pyagent_engine_meta_strPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_engine_tokenize(pyagent_engine *engine, const char *text, int64_t text_len, int32_t flags, int32_t *tokens, size_t capacity, size_t *n_tokens)` (engine.h)
  int pyagent_engine_tokenize(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> text, int text_len, int flags, ffi.Pointer<ffi.Int32> tokens, int capacity, ffi.Pointer<ffi.Size> n_tokens) {
    return _pyagent_engine_tokenize(engine, text, text_len, flags, tokens, capacity, n_tokens);
  }

  late final _pyagent_engine_tokenizePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Int32, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_engine_tokenize');
  late final _pyagent_engine_tokenize = _pyagent_engine_tokenizePtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, int, int, ffi.Pointer<ffi.Int32>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_engine_detokenize(pyagent_engine *engine, const int32_t *tokens, size_t n_tokens, int32_t flags, char *text, size_t capacity, size_t *text_len)` (engine.h)
  int pyagent_engine_detokenize(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Int32> tokens, int n_tokens, int flags, ffi.Pointer<ffi.Char> text, int capacity, ffi.Pointer<ffi.Size> text_len) {
    return _pyagent_engine_detokenize(engine, tokens, n_tokens, flags, text, capacity, text_len);
  }

  late final _pyagent_engine_detokenizePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_engine_detokenize');
  late final _pyagent_engine_detokenize = _pyagent_engine_detokenizePtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>, int, int, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_engine_tensor(pyagent_engine *engine, int64_t index, pyagent_tensor_info *info)` (engine.h)
  int pyagent_engine_tensor(ffi.Pointer<pyagent_engine> engine, int index, ffi.Pointer<pyagent_tensor_info> info) {
    return _pyagent_engine_tensor(engine, index, info);
  }

  late final _pyagent_engine_tensorPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Int64, ffi.Pointer<pyagent_tensor_info>)>>('pyagent_engine_tensor');
  late final _pyagent_engine_tensor = _pyagent_engine_tensorPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, int, ffi.Pointer<pyagent_tensor_info>)>();

  /// `pyagent_status pyagent_engine_embed_tokens(pyagent_engine *engine, const int32_t *tokens, size_t n_tokens, float *rows, size_t capacity, size_t *n_floats)` (engine.h)
  int pyagent_engine_embed_tokens(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Int32> tokens, int n_tokens, ffi.Pointer<ffi.Float> rows, int capacity, ffi.Pointer<ffi.Size> n_floats) {
    return _pyagent_engine_embed_tokens(engine, tokens, n_tokens, rows, capacity, n_floats);
  }

  late final _pyagent_engine_embed_tokensPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_engine_embed_tokens');
  late final _pyagent_engine_embed_tokens = _pyagent_engine_embed_tokensPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>, int, ffi.Pointer<ffi.Float>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_engine_embed_text(pyagent_engine *engine, const char *text, int64_t text_len, float *embedding, size_t capacity, size_t *n_floats)` (engine.h)
  int pyagent_engine_embed_text(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> text, int text_len, ffi.Pointer<ffi.Float> embedding, int capacity, ffi.Pointer<ffi.Size> n_floats) {
    return _pyagent_engine_embed_text(engine, text, text_len, embedding, capacity, n_floats);
  }

  late final _pyagent_engine_embed_textPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_engine_embed_text');
  late final _pyagent_engine_embed_text = _pyagent_engine_embed_textPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Float>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_engine_load_draft(pyagent_engine *engine, const char *path)` (engine.h)
  int pyagent_engine_load_draft(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> path) {
    return _pyagent_engine_load_draft(engine, path);
  }

  late final _pyagent_engine_load_draftPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>)>>('pyagent_engine_load_draft');
  late final _pyagent_engine_load_draft = _pyagent_engine_load_draftPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_engine_step(pyagent_engine *engine, int32_t *n_active)` (engine.h)
  int pyagent_engine_step(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Int32> n_active) {
    return _pyagent_engine_step(engine, n_active);
  }

  late final _pyagent_engine_stepPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>)>>('pyagent_engine_step');
  late final _pyagent_engine_step = _pyagent_engine_stepPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>)>();

  /// `pyagent_status pyagent_engine_start(pyagent_engine *engine)` (engine.h)
  int pyagent_engine_start(ffi.Pointer<pyagent_engine> engine) {
    return _pyagent_engine_start(engine);
  }

  late final _pyagent_engine_startPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>)>>('pyagent_engine_start');
  late final _pyagent_engine_start = _pyagent_engine_startPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>)>();

  /// `pyagent_status pyagent_engine_stop(pyagent_engine *engine)` (engine.h)
  int pyagent_engine_stop(ffi.Pointer<pyagent_engine> engine) {
    return _pyagent_engine_stop(engine);
  }

  late final _pyagent_engine_stopPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>)>>('pyagent_engine_stop');
  late final _pyagent_engine_stop = _pyagent_engine_stopPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>)>();

  /// `pyagent_kv_store *pyagent_engine_kv_store(pyagent_engine *engine)` (kv.h)
  ffi.Pointer<pyagent_kv_store> pyagent_engine_kv_store(ffi.Pointer<pyagent_engine> engine) {
    return _pyagent_engine_kv_store(engine);
  }

  late final _pyagent_engine_kv_storePtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<pyagent_kv_store> Function(ffi.Pointer<pyagent_engine>)>>('pyagent_engine_kv_store');
  late final _pyagent_engine_kv_store = _pyagent_engine_kv_storePtr.asFunction<ffi.Pointer<pyagent_kv_store> Function(ffi.Pointer<pyagent_engine>)>();

  /// `pyagent_status pyagent_kv_store_stats_get(const pyagent_kv_store *store, pyagent_kv_stats *stats)` (kv.h)
  int pyagent_kv_store_stats_get(ffi.Pointer<pyagent_kv_store> store, ffi.Pointer<pyagent_kv_stats> stats) {
    return _pyagent_kv_store_stats_get(store, stats);
  }

  late final _pyagent_kv_store_stats_getPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<pyagent_kv_stats>)>>('pyagent_kv_store_stats_get');
  late final _pyagent_kv_store_stats_get = _pyagent_kv_store_stats_getPtr.asFunction<int Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<pyagent_kv_stats>)>();

  /// `pyagent_status pyagent_kv_store_nodes(const pyagent_kv_store *store, pyagent_kv_node *nodes, int32_t *tokens, size_t capacity, size_t *n_nodes)` (kv.h)
  int pyagent_kv_store_nodes(ffi.Pointer<pyagent_kv_store> store, ffi.Pointer<pyagent_kv_node> nodes, ffi.Pointer<ffi.Int32> tokens, int capacity, ffi.Pointer<ffi.Size> n_nodes) {
    return _pyagent_kv_store_nodes(store, nodes, tokens, capacity, n_nodes);
  }

  late final _pyagent_kv_store_nodesPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<pyagent_kv_node>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_kv_store_nodes');
  late final _pyagent_kv_store_nodes = _pyagent_kv_store_nodesPtr.asFunction<int Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<pyagent_kv_node>, ffi.Pointer<ffi.Int32>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_kv_store_set_host_tier(pyagent_kv_store *store, int64_t max_bytes)` (kv.h)
  int pyagent_kv_store_set_host_tier(ffi.Pointer<pyagent_kv_store> store, int max_bytes) {
    return _pyagent_kv_store_set_host_tier(store, max_bytes);
  }

  late final _pyagent_kv_store_set_host_tierPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Int64)>>('pyagent_kv_store_set_host_tier');
  late final _pyagent_kv_store_set_host_tier = _pyagent_kv_store_set_host_tierPtr.asFunction<int Function(ffi.Pointer<pyagent_kv_store>, int)>();

  /// `pyagent_status pyagent_kv_store_set_disk_tier(pyagent_kv_store *store, const char *dir, int64_t max_bytes)` (kv.h)
  int pyagent_kv_store_set_disk_tier(ffi.Pointer<pyagent_kv_store> store, ffi.Pointer<ffi.Char> dir, int max_bytes) {
    return _pyagent_kv_store_set_disk_tier(store, dir, max_bytes);
  }

  late final _pyagent_kv_store_set_disk_tierPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, ffi.Int64)>>('pyagent_kv_store_set_disk_tier');
  late final _pyagent_kv_store_set_disk_tier = _pyagent_kv_store_set_disk_tierPtr.asFunction<int Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, int)>();

  /// `pyagent_status pyagent_kv_store_set_redis_tier(pyagent_kv_store *store, const char *host, int32_t port, int64_t ttl_seconds, int32_t timeout_ms, int64_t max_bytes)` (kv.h)
  int pyagent_kv_store_set_redis_tier(ffi.Pointer<pyagent_kv_store> store, ffi.Pointer<ffi.Char> host, int port, int ttl_seconds, int timeout_ms, int max_bytes) {
    return _pyagent_kv_store_set_redis_tier(store, host, port, ttl_seconds, timeout_ms, max_bytes);
  }

  late final _pyagent_kv_store_set_redis_tierPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Int64, ffi.Int32, ffi.Int64)>>('pyagent_kv_store_set_redis_tier');
  late final _pyagent_kv_store_set_redis_tier = _pyagent_kv_store_set_redis_tierPtr.asFunction<int Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, int, int, int, int)>();

  /// `pyagent_status pyagent_kv_store_save(pyagent_kv_store *store, const char *path)` (kv.h)
  int pyagent_kv_store_save(ffi.Pointer<pyagent_kv_store> store, ffi.Pointer<ffi.Char> path) {
    return _pyagent_kv_store_save(store, path);
  }

  late final _pyagent_kv_store_savePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>)>>('pyagent_kv_store_save');
  late final _pyagent_kv_store_save = _pyagent_kv_store_savePtr.asFunction<int Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_kv_store_load(pyagent_kv_store *store, const char *path, int64_t *n_blocks)` (kv.h)
  int pyagent_kv_store_load(ffi.Pointer<pyagent_kv_store> store, ffi.Pointer<ffi.Char> path, ffi.Pointer<ffi.Int64> n_blocks) {
    return _pyagent_kv_store_load(store, path, n_blocks);
  }

  late final _pyagent_kv_store_loadPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>>('pyagent_kv_store_load');
  late final _pyagent_kv_store_load = _pyagent_kv_store_loadPtr.asFunction<int Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>();

  /// `pyagent_status pyagent_kv_store_drop_cache(pyagent_kv_store *store)` (kv.h)
  int pyagent_kv_store_drop_cache(ffi.Pointer<pyagent_kv_store> store) {
    return _pyagent_kv_store_drop_cache(store);
  }

  late final _pyagent_kv_store_drop_cachePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>)>>('pyagent_kv_store_drop_cache');
  late final _pyagent_kv_store_drop_cache = _pyagent_kv_store_drop_cachePtr.asFunction<int Function(ffi.Pointer<pyagent_kv_store>)>();

  /// `pyagent_status pyagent_kvzap_fit(pyagent_engine *engine, const char **texts, size_t n_texts, double ridge, double heldout, const char *path, pyagent_kvzap_info *info)` (kv.h)
  int pyagent_kvzap_fit(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Pointer<ffi.Char>> texts, int n_texts, double ridge, double heldout, ffi.Pointer<ffi.Char> path, ffi.Pointer<pyagent_kvzap_info> info) {
    return _pyagent_kvzap_fit(engine, texts, n_texts, ridge, heldout, path, info);
  }

  late final _pyagent_kvzap_fitPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Pointer<ffi.Char>>, ffi.Size, ffi.Double, ffi.Double, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_kvzap_info>)>>('pyagent_kvzap_fit');
  late final _pyagent_kvzap_fit = _pyagent_kvzap_fitPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Pointer<ffi.Char>>, int, double, double, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_kvzap_info>)>();

  /// `pyagent_status pyagent_engine_load_kvzap(pyagent_engine *engine, const char *path, pyagent_kvzap_info *info)` (kv.h)
  int pyagent_engine_load_kvzap(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> path, ffi.Pointer<pyagent_kvzap_info> info) {
    return _pyagent_engine_load_kvzap(engine, path, info);
  }

  late final _pyagent_engine_load_kvzapPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_kvzap_info>)>>('pyagent_engine_load_kvzap');
  late final _pyagent_engine_load_kvzap = _pyagent_engine_load_kvzapPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_kvzap_info>)>();

  /// `pyagent_status pyagent_latent_export(pyagent_agent *agent, int64_t from, int64_t to, pyagent_latent_packet **packet)` (latent.h)
  int pyagent_latent_export(ffi.Pointer<pyagent_agent> agent, int from, int to, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>> packet) {
    return _pyagent_latent_export(agent, from, to, packet);
  }

  late final _pyagent_latent_exportPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Int64, ffi.Int64, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>>('pyagent_latent_export');
  late final _pyagent_latent_export = _pyagent_latent_exportPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, int, int, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>();

  /// `void pyagent_latent_packet_destroy(pyagent_latent_packet *packet)` (latent.h)
  void pyagent_latent_packet_destroy(ffi.Pointer<pyagent_latent_packet> packet) {
    return _pyagent_latent_packet_destroy(packet);
  }

  late final _pyagent_latent_packet_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_latent_packet>)>>('pyagent_latent_packet_destroy');
  late final _pyagent_latent_packet_destroy = _pyagent_latent_packet_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_latent_packet>)>();

  /// `pyagent_status pyagent_latent_packet_range(const pyagent_latent_packet *packet, int64_t *from, int64_t *to)` (latent.h)
  int pyagent_latent_packet_range(ffi.Pointer<pyagent_latent_packet> packet, ffi.Pointer<ffi.Int64> from, ffi.Pointer<ffi.Int64> to) {
    return _pyagent_latent_packet_range(packet, from, to);
  }

  late final _pyagent_latent_packet_rangePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_latent_packet>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>)>>('pyagent_latent_packet_range');
  late final _pyagent_latent_packet_range = _pyagent_latent_packet_rangePtr.asFunction<int Function(ffi.Pointer<pyagent_latent_packet>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>)>();

  /// `pyagent_status pyagent_latent_import(pyagent_agent *agent, const pyagent_latent_packet *packet)` (latent.h)
  int pyagent_latent_import(ffi.Pointer<pyagent_agent> agent, ffi.Pointer<pyagent_latent_packet> packet) {
    return _pyagent_latent_import(agent, packet);
  }

  late final _pyagent_latent_importPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_latent_packet>)>>('pyagent_latent_import');
  late final _pyagent_latent_import = _pyagent_latent_importPtr.asFunction<int Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_latent_packet>)>();

  /// `pyagent_status pyagent_latent_packet_serialize(const pyagent_latent_packet *packet, int32_t payload_type, void *buffer, size_t capacity, size_t *needed)` (latent.h)
  int pyagent_latent_packet_serialize(ffi.Pointer<pyagent_latent_packet> packet, int payload_type, ffi.Pointer<ffi.Void> buffer, int capacity, ffi.Pointer<ffi.Size> needed) {
    return _pyagent_latent_packet_serialize(packet, payload_type, buffer, capacity, needed);
  }

  late final _pyagent_latent_packet_serializePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_latent_packet>, ffi.Int32, ffi.Pointer<ffi.Void>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_latent_packet_serialize');
  late final _pyagent_latent_packet_serialize = _pyagent_latent_packet_serializePtr.asFunction<int Function(ffi.Pointer<pyagent_latent_packet>, int, ffi.Pointer<ffi.Void>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_latent_packet_write_fd(const pyagent_latent_packet *packet, int32_t payload_type, int fd)` (latent.h)
  int pyagent_latent_packet_write_fd(ffi.Pointer<pyagent_latent_packet> packet, int payload_type, int fd) {
    return _pyagent_latent_packet_write_fd(packet, payload_type, fd);
  }

  late final _pyagent_latent_packet_write_fdPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_latent_packet>, ffi.Int32, ffi.Int)>>('pyagent_latent_packet_write_fd');
  late final _pyagent_latent_packet_write_fd = _pyagent_latent_packet_write_fdPtr.asFunction<int Function(ffi.Pointer<pyagent_latent_packet>, int, int)>();

  /// `pyagent_status pyagent_latent_packet_deserialize(pyagent_engine *engine, const void *data, size_t size, pyagent_latent_packet **packet)` (latent.h)
  int pyagent_latent_packet_deserialize(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Void> data, int size, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>> packet) {
    return _pyagent_latent_packet_deserialize(engine, data, size, packet);
  }

  late final _pyagent_latent_packet_deserializePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Void>, ffi.Size, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>>('pyagent_latent_packet_deserialize');
  late final _pyagent_latent_packet_deserialize = _pyagent_latent_packet_deserializePtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Void>, int, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>();

  /// `pyagent_status pyagent_latent_packet_read_fd(pyagent_engine *engine, int fd, size_t max_bytes, pyagent_latent_packet **packet)` (latent.h)
  int pyagent_latent_packet_read_fd(ffi.Pointer<pyagent_engine> engine, int fd, int max_bytes, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>> packet) {
    return _pyagent_latent_packet_read_fd(engine, fd, max_bytes, packet);
  }

  late final _pyagent_latent_packet_read_fdPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Int, ffi.Size, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>>('pyagent_latent_packet_read_fd');
  late final _pyagent_latent_packet_read_fd = _pyagent_latent_packet_read_fdPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, int, int, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>();

  /// `pyagent_status pyagent_latent_packet_put_redis(pyagent_engine *engine, const pyagent_latent_packet *packet, int32_t payload_type, const char *host, int32_t port, const char *key, int64_t ttl_seconds, int32_t timeout_ms)` (latent.h)
  int pyagent_latent_packet_put_redis(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<pyagent_latent_packet> packet, int payload_type, ffi.Pointer<ffi.Char> host, int port, ffi.Pointer<ffi.Char> key, int ttl_seconds, int timeout_ms) {
    return _pyagent_latent_packet_put_redis(engine, packet, payload_type, host, port, key, ttl_seconds, timeout_ms);
  }

  late final _pyagent_latent_packet_put_redisPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_latent_packet>, ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Int32)>>('pyagent_latent_packet_put_redis');
  late final _pyagent_latent_packet_put_redis = _pyagent_latent_packet_put_redisPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_latent_packet>, int, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Char>, int, int)>();

  /// `pyagent_status pyagent_latent_packet_get_redis(pyagent_engine *engine, const char *host, int32_t port, const char *key, size_t max_bytes, int32_t timeout_ms, pyagent_latent_packet **packet)` (latent.h)
  int pyagent_latent_packet_get_redis(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> host, int port, ffi.Pointer<ffi.Char> key, int max_bytes, int timeout_ms, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>> packet) {
    return _pyagent_latent_packet_get_redis(engine, host, port, key, max_bytes, timeout_ms, packet);
  }

  late final _pyagent_latent_packet_get_redisPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Int32, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>>('pyagent_latent_packet_get_redis');
  late final _pyagent_latent_packet_get_redis = _pyagent_latent_packet_get_redisPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Char>, int, int, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>();

  /// `pyagent_status pyagent_adapter_fit(pyagent_engine *src, pyagent_engine *dst, const char *text, int64_t text_len, double ridge, double heldout, pyagent_adapter **adapter)` (latent.h)
  int pyagent_adapter_fit(ffi.Pointer<pyagent_engine> src, ffi.Pointer<pyagent_engine> dst, ffi.Pointer<ffi.Char> text, int text_len, double ridge, double heldout, ffi.Pointer<ffi.Pointer<pyagent_adapter>> adapter) {
    return _pyagent_adapter_fit(src, dst, text, text_len, ridge, heldout, adapter);
  }

  late final _pyagent_adapter_fitPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double, ffi.Double, ffi.Pointer<ffi.Pointer<pyagent_adapter>>)>>('pyagent_adapter_fit');
  late final _pyagent_adapter_fit = _pyagent_adapter_fitPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, int, double, double, ffi.Pointer<ffi.Pointer<pyagent_adapter>>)>();

  /// `void pyagent_adapter_destroy(pyagent_adapter *adapter)` (latent.h)
  void pyagent_adapter_destroy(ffi.Pointer<pyagent_adapter> adapter) {
    return _pyagent_adapter_destroy(adapter);
  }

  late final _pyagent_adapter_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_adapter>)>>('pyagent_adapter_destroy');
  late final _pyagent_adapter_destroy = _pyagent_adapter_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_adapter>)>();

  /// `pyagent_status pyagent_adapter_info_get(const pyagent_adapter *adapter, pyagent_adapter_info *info)` (latent.h)
  int pyagent_adapter_info_get(ffi.Pointer<pyagent_adapter> adapter, ffi.Pointer<pyagent_adapter_info> info) {
    return _pyagent_adapter_info_get(adapter, info);
  }

  late final _pyagent_adapter_info_getPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_adapter>, ffi.Pointer<pyagent_adapter_info>)>>('pyagent_adapter_info_get');
  late final _pyagent_adapter_info_get = _pyagent_adapter_info_getPtr.asFunction<int Function(ffi.Pointer<pyagent_adapter>, ffi.Pointer<pyagent_adapter_info>)>();

  /// `pyagent_status pyagent_adapter_apply(const pyagent_adapter *adapter, const float *hidden, size_t n_rows, float *rows, size_t capacity)` (latent.h)
  int pyagent_adapter_apply(ffi.Pointer<pyagent_adapter> adapter, ffi.Pointer<ffi.Float> hidden, int n_rows, ffi.Pointer<ffi.Float> rows, int capacity) {
    return _pyagent_adapter_apply(adapter, hidden, n_rows, rows, capacity);
  }

  late final _pyagent_adapter_applyPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_adapter>, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Float>, ffi.Size)>>('pyagent_adapter_apply');
  late final _pyagent_adapter_apply = _pyagent_adapter_applyPtr.asFunction<int Function(ffi.Pointer<pyagent_adapter>, ffi.Pointer<ffi.Float>, int, ffi.Pointer<ffi.Float>, int)>();

  /// `pyagent_status pyagent_adapter_save(pyagent_engine *engine, const pyagent_adapter *adapter, const char *path)` (latent.h)
  int pyagent_adapter_save(ffi.Pointer<pyagent_engine> engine, ffi.Pointer<pyagent_adapter> adapter, ffi.Pointer<ffi.Char> path) {
    return _pyagent_adapter_save(engine, adapter, path);
  }

  late final _pyagent_adapter_savePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_adapter>, ffi.Pointer<ffi.Char>)>>('pyagent_adapter_save');
  late final _pyagent_adapter_save = _pyagent_adapter_savePtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_adapter>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_adapter_load(pyagent_engine *src, pyagent_engine *dst, const char *path, pyagent_adapter **adapter)` (latent.h)
  int pyagent_adapter_load(ffi.Pointer<pyagent_engine> src, ffi.Pointer<pyagent_engine> dst, ffi.Pointer<ffi.Char> path, ffi.Pointer<ffi.Pointer<pyagent_adapter>> adapter) {
    return _pyagent_adapter_load(src, dst, path, adapter);
  }

  late final _pyagent_adapter_loadPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_adapter>>)>>('pyagent_adapter_load');
  late final _pyagent_adapter_load = _pyagent_adapter_loadPtr.asFunction<int Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_adapter>>)>();

  /// `pyagent_status pyagent_registry_open(const char *path, const pyagent_params *params, pyagent_registry **registry)` (registry.h)
  int pyagent_registry_open(ffi.Pointer<ffi.Char> path, ffi.Pointer<pyagent_params> params, ffi.Pointer<ffi.Pointer<pyagent_registry>> registry) {
    return _pyagent_registry_open(path, params, registry);
  }

  late final _pyagent_registry_openPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_registry>>)>>('pyagent_registry_open');
  late final _pyagent_registry_open = _pyagent_registry_openPtr.asFunction<int Function(ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_registry>>)>();

  /// `void pyagent_registry_destroy(pyagent_registry *registry)` (registry.h)
  void pyagent_registry_destroy(ffi.Pointer<pyagent_registry> registry) {
    return _pyagent_registry_destroy(registry);
  }

  late final _pyagent_registry_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_registry>)>>('pyagent_registry_destroy');
  late final _pyagent_registry_destroy = _pyagent_registry_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_registry>)>();

  /// `const char *pyagent_registry_last_error(const pyagent_registry *registry)` (registry.h)
  ffi.Pointer<ffi.Char> pyagent_registry_last_error(ffi.Pointer<pyagent_registry> registry) {
    return _pyagent_registry_last_error(registry);
  }

  late final _pyagent_registry_last_errorPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_registry>)>>('pyagent_registry_last_error');
  late final _pyagent_registry_last_error = _pyagent_registry_last_errorPtr.asFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_registry>)>();

  /// `pyagent_status pyagent_registry_add_model(pyagent_registry *registry, const char *name, const char *provider, const char *location, const char *remote_id)` (registry.h)
  int pyagent_registry_add_model(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> name, ffi.Pointer<ffi.Char> provider, ffi.Pointer<ffi.Char> location, ffi.Pointer<ffi.Char> remote_id) {
    return _pyagent_registry_add_model(registry, name, provider, location, remote_id);
  }

  late final _pyagent_registry_add_modelPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>>('pyagent_registry_add_model');
  late final _pyagent_registry_add_model = _pyagent_registry_add_modelPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_registry_remove_model(pyagent_registry *registry, const char *name)` (registry.h)
  int pyagent_registry_remove_model(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> name) {
    return _pyagent_registry_remove_model(registry, name);
  }

  late final _pyagent_registry_remove_modelPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>)>>('pyagent_registry_remove_model');
  late final _pyagent_registry_remove_model = _pyagent_registry_remove_modelPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>)>();

  /// `pyagent_status pyagent_registry_list(pyagent_registry *registry, char *names, size_t capacity, size_t *needed, size_t *count)` (registry.h)
  int pyagent_registry_list(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> names, int capacity, ffi.Pointer<ffi.Size> needed, ffi.Pointer<ffi.Size> count) {
    return _pyagent_registry_list(registry, names, capacity, needed, count);
  }

  late final _pyagent_registry_listPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Size>)>>('pyagent_registry_list');
  late final _pyagent_registry_list = _pyagent_registry_listPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_registry_record_f64(pyagent_registry *registry, const char *model, const char *key, double value, const char *source, int64_t measured_at, double confidence)` (registry.h)
  int pyagent_registry_record_f64(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> model, ffi.Pointer<ffi.Char> key, double value, ffi.Pointer<ffi.Char> source, int measured_at, double confidence) {
    return _pyagent_registry_record_f64(registry, model, key, value, source, measured_at, confidence);
  }

  late final _pyagent_registry_record_f64Ptr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Double, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double)>>('pyagent_registry_record_f64');
  late final _pyagent_registry_record_f64 = _pyagent_registry_record_f64Ptr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, double, ffi.Pointer<ffi.Char>, int, double)>();

  /// `pyagent_status pyagent_registry_record_str(pyagent_registry *registry, const char *model, const char *key, const char *value, const char *source, int64_t measured_at, double confidence)` (registry.h)
  int pyagent_registry_record_str(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> model, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Char> value, ffi.Pointer<ffi.Char> source, int measured_at, double confidence) {
    return _pyagent_registry_record_str(registry, model, key, value, source, measured_at, confidence);
  }

  late final _pyagent_registry_record_strPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double)>>('pyagent_registry_record_str');
  late final _pyagent_registry_record_str = _pyagent_registry_record_strPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, int, double)>();

  /// `pyagent_status pyagent_registry_get_f64(pyagent_registry *registry, const char *model, const char *key, double *value, int64_t *measured_at)` (registry.h)
  int pyagent_registry_get_f64(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> model, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Double> value, ffi.Pointer<ffi.Int64> measured_at) {
    return _pyagent_registry_get_f64(registry, model, key, value, measured_at);
  }

  late final _pyagent_registry_get_f64Ptr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>, ffi.Pointer<ffi.Int64>)>>('pyagent_registry_get_f64');
  late final _pyagent_registry_get_f64 = _pyagent_registry_get_f64Ptr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>, ffi.Pointer<ffi.Int64>)>();

  /// `pyagent_status pyagent_registry_get_str(pyagent_registry *registry, const char *model, const char *key, char *value, size_t capacity, size_t *needed)` (registry.h)
  int pyagent_registry_get_str(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> model, ffi.Pointer<ffi.Char> key, ffi.Pointer<ffi.Char> value, int capacity, ffi.Pointer<ffi.Size> needed) {
    return _pyagent_registry_get_str(registry, model, key, value, capacity, needed);
  }

  late final _pyagent_registry_get_strPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_registry_get_str');
  late final _pyagent_registry_get_str = _pyagent_registry_get_strPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_registry_route(pyagent_registry *registry, const pyagent_params *requirements, pyagent_route **route)` (registry.h)
  int pyagent_registry_route(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<pyagent_params> requirements, ffi.Pointer<ffi.Pointer<pyagent_route>> route) {
    return _pyagent_registry_route(registry, requirements, route);
  }

  late final _pyagent_registry_routePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_route>>)>>('pyagent_registry_route');
  late final _pyagent_registry_route = _pyagent_registry_routePtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_route>>)>();

  /// `void pyagent_route_destroy(pyagent_route *route)` (registry.h)
  void pyagent_route_destroy(ffi.Pointer<pyagent_route> route) {
    return _pyagent_route_destroy(route);
  }

  late final _pyagent_route_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_route>)>>('pyagent_route_destroy');
  late final _pyagent_route_destroy = _pyagent_route_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_route>)>();

  /// `const char *pyagent_route_model(const pyagent_route *route)` (registry.h)
  ffi.Pointer<ffi.Char> pyagent_route_model(ffi.Pointer<pyagent_route> route) {
    return _pyagent_route_model(route);
  }

  late final _pyagent_route_modelPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_route>)>>('pyagent_route_model');
  late final _pyagent_route_model = _pyagent_route_modelPtr.asFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_route>)>();

  /// `const char *pyagent_route_reason(const pyagent_route *route)` (registry.h)
  ffi.Pointer<ffi.Char> pyagent_route_reason(ffi.Pointer<pyagent_route> route) {
    return _pyagent_route_reason(route);
  }

  late final _pyagent_route_reasonPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_route>)>>('pyagent_route_reason');
  late final _pyagent_route_reason = _pyagent_route_reasonPtr.asFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_route>)>();

  /// `pyagent_status pyagent_route_summary_get(const pyagent_route *route, pyagent_route_summary *summary)` (registry.h)
  int pyagent_route_summary_get(ffi.Pointer<pyagent_route> route, ffi.Pointer<pyagent_route_summary> summary) {
    return _pyagent_route_summary_get(route, summary);
  }

  late final _pyagent_route_summary_getPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_route>, ffi.Pointer<pyagent_route_summary>)>>('pyagent_route_summary_get');
  late final _pyagent_route_summary_get = _pyagent_route_summary_getPtr.asFunction<int Function(ffi.Pointer<pyagent_route>, ffi.Pointer<pyagent_route_summary>)>();

  /// `size_t pyagent_route_n_rejected(const pyagent_route *route)` (registry.h)
  int pyagent_route_n_rejected(ffi.Pointer<pyagent_route> route) {
    return _pyagent_route_n_rejected(route);
  }

  late final _pyagent_route_n_rejectedPtr =
      _lookup<ffi.NativeFunction<ffi.Size Function(ffi.Pointer<pyagent_route>)>>('pyagent_route_n_rejected');
  late final _pyagent_route_n_rejected = _pyagent_route_n_rejectedPtr.asFunction<int Function(ffi.Pointer<pyagent_route>)>();

  /// `pyagent_status pyagent_route_rejection(pyagent_route *route, size_t index, const char **model, const char **reason)` (registry.h)
  int pyagent_route_rejection(ffi.Pointer<pyagent_route> route, int index, ffi.Pointer<ffi.Pointer<ffi.Char>> model, ffi.Pointer<ffi.Pointer<ffi.Char>> reason) {
    return _pyagent_route_rejection(route, index, model, reason);
  }

  late final _pyagent_route_rejectionPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_route>, ffi.Size, ffi.Pointer<ffi.Pointer<ffi.Char>>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>>('pyagent_route_rejection');
  late final _pyagent_route_rejection = _pyagent_route_rejectionPtr.asFunction<int Function(ffi.Pointer<pyagent_route>, int, ffi.Pointer<ffi.Pointer<ffi.Char>>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>();

  /// `pyagent_status pyagent_registry_estimate_tokens(pyagent_registry *registry, const char *model, const char *text, int64_t text_len, int64_t *n_tokens, int32_t *method)` (registry.h)
  int pyagent_registry_estimate_tokens(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> model, ffi.Pointer<ffi.Char> text, int text_len, ffi.Pointer<ffi.Int64> n_tokens, ffi.Pointer<ffi.Int32> method) {
    return _pyagent_registry_estimate_tokens(registry, model, text, text_len, n_tokens, method);
  }

  late final _pyagent_registry_estimate_tokensPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int32>)>>('pyagent_registry_estimate_tokens');
  late final _pyagent_registry_estimate_tokens = _pyagent_registry_estimate_tokensPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int32>)>();

  /// `pyagent_status pyagent_registry_due(pyagent_registry *registry, int64_t now, char *names, size_t capacity, size_t *needed, size_t *count)` (registry.h)
  int pyagent_registry_due(ffi.Pointer<pyagent_registry> registry, int now, ffi.Pointer<ffi.Char> names, int capacity, ffi.Pointer<ffi.Size> needed, ffi.Pointer<ffi.Size> count) {
    return _pyagent_registry_due(registry, now, names, capacity, needed, count);
  }

  late final _pyagent_registry_duePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Int64, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Size>)>>('pyagent_registry_due');
  late final _pyagent_registry_due = _pyagent_registry_duePtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, int, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_registry_last_checked(pyagent_registry *registry, const char *model, int32_t what, int64_t *at)` (registry.h)
  int pyagent_registry_last_checked(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> model, int what, ffi.Pointer<ffi.Int64> at) {
    return _pyagent_registry_last_checked(registry, model, what, at);
  }

  late final _pyagent_registry_last_checkedPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Pointer<ffi.Int64>)>>('pyagent_registry_last_checked');
  late final _pyagent_registry_last_checked = _pyagent_registry_last_checkedPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Int64>)>();

  /// `pyagent_status pyagent_registry_measure(pyagent_registry *registry, const char *model, const pyagent_params *params)` (registry.h)
  int pyagent_registry_measure(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> model, ffi.Pointer<pyagent_params> params) {
    return _pyagent_registry_measure(registry, model, params);
  }

  late final _pyagent_registry_measurePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>)>>('pyagent_registry_measure');
  late final _pyagent_registry_measure = _pyagent_registry_measurePtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>)>();

  /// `pyagent_status pyagent_registry_import_json(pyagent_registry *registry, const char *json, size_t json_len, const char *source, int64_t measured_at, double confidence, int64_t *n_imported, int64_t *n_skipped, char **report)` (registry.h)
  int pyagent_registry_import_json(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> json, int json_len, ffi.Pointer<ffi.Char> source, int measured_at, double confidence, ffi.Pointer<ffi.Int64> n_imported, ffi.Pointer<ffi.Int64> n_skipped, ffi.Pointer<ffi.Pointer<ffi.Char>> report) {
    return _pyagent_registry_import_json(registry, json, json_len, source, measured_at, confidence, n_imported, n_skipped, report);
  }

  late final _pyagent_registry_import_jsonPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>>('pyagent_registry_import_json');
  late final _pyagent_registry_import_json = _pyagent_registry_import_jsonPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Char>, int, double, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>();

  /// `pyagent_status pyagent_registry_import_file(pyagent_registry *registry, const char *path, const char *source, int64_t measured_at, double confidence, int64_t *n_imported, int64_t *n_skipped, char **report)` (registry.h)
  int pyagent_registry_import_file(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> path, ffi.Pointer<ffi.Char> source, int measured_at, double confidence, ffi.Pointer<ffi.Int64> n_imported, ffi.Pointer<ffi.Int64> n_skipped, ffi.Pointer<ffi.Pointer<ffi.Char>> report) {
    return _pyagent_registry_import_file(registry, path, source, measured_at, confidence, n_imported, n_skipped, report);
  }

  late final _pyagent_registry_import_filePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>>('pyagent_registry_import_file');
  late final _pyagent_registry_import_file = _pyagent_registry_import_filePtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, int, double, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>();

  /// `pyagent_status pyagent_registry_export(pyagent_registry *registry, const char *model, int32_t flags, char **json, size_t *json_len)` (registry.h)
  int pyagent_registry_export(ffi.Pointer<pyagent_registry> registry, ffi.Pointer<ffi.Char> model, int flags, ffi.Pointer<ffi.Pointer<ffi.Char>> json, ffi.Pointer<ffi.Size> json_len) {
    return _pyagent_registry_export(registry, model, flags, json, json_len);
  }

  late final _pyagent_registry_exportPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Pointer<ffi.Pointer<ffi.Char>>, ffi.Pointer<ffi.Size>)>>('pyagent_registry_export');
  late final _pyagent_registry_export = _pyagent_registry_exportPtr.asFunction<int Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Pointer<ffi.Char>>, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_semantic_cache_create(const pyagent_semantic_config *config, pyagent_semantic_cache **cache)` (semantic.h)
  int pyagent_semantic_cache_create(ffi.Pointer<pyagent_semantic_config> config, ffi.Pointer<ffi.Pointer<pyagent_semantic_cache>> cache) {
    return _pyagent_semantic_cache_create(config, cache);
  }

  late final _pyagent_semantic_cache_createPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_semantic_config>, ffi.Pointer<ffi.Pointer<pyagent_semantic_cache>>)>>('pyagent_semantic_cache_create');
  late final _pyagent_semantic_cache_create = _pyagent_semantic_cache_createPtr.asFunction<int Function(ffi.Pointer<pyagent_semantic_config>, ffi.Pointer<ffi.Pointer<pyagent_semantic_cache>>)>();

  /// `void pyagent_semantic_cache_destroy(pyagent_semantic_cache *cache)` (semantic.h)
  void pyagent_semantic_cache_destroy(ffi.Pointer<pyagent_semantic_cache> cache) {
    return _pyagent_semantic_cache_destroy(cache);
  }

  late final _pyagent_semantic_cache_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_semantic_cache>)>>('pyagent_semantic_cache_destroy');
  late final _pyagent_semantic_cache_destroy = _pyagent_semantic_cache_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_semantic_cache>)>();

  /// `pyagent_status pyagent_semantic_cache_get(pyagent_semantic_cache *cache, pyagent_engine *engine, const char *prompt, int64_t prompt_len, int32_t *hit, char *completion, size_t capacity, size_t *completion_len, double *similarity)` (semantic.h)
  int pyagent_semantic_cache_get(ffi.Pointer<pyagent_semantic_cache> cache, ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> prompt, int prompt_len, ffi.Pointer<ffi.Int32> hit, ffi.Pointer<ffi.Char> completion, int capacity, ffi.Pointer<ffi.Size> completion_len, ffi.Pointer<ffi.Double> similarity) {
    return _pyagent_semantic_cache_get(cache, engine, prompt, prompt_len, hit, completion, capacity, completion_len, similarity);
  }

  late final _pyagent_semantic_cache_getPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Double>)>>('pyagent_semantic_cache_get');
  late final _pyagent_semantic_cache_get = _pyagent_semantic_cache_getPtr.asFunction<int Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Double>)>();

  /// `pyagent_status pyagent_semantic_cache_put(pyagent_semantic_cache *cache, pyagent_engine *engine, const char *prompt, int64_t prompt_len, const char *completion, int64_t completion_len)` (semantic.h)
  int pyagent_semantic_cache_put(ffi.Pointer<pyagent_semantic_cache> cache, ffi.Pointer<pyagent_engine> engine, ffi.Pointer<ffi.Char> prompt, int prompt_len, ffi.Pointer<ffi.Char> completion, int completion_len) {
    return _pyagent_semantic_cache_put(cache, engine, prompt, prompt_len, completion, completion_len);
  }

  late final _pyagent_semantic_cache_putPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Pointer<ffi.Char>, ffi.Int64)>>('pyagent_semantic_cache_put');
  late final _pyagent_semantic_cache_put = _pyagent_semantic_cache_putPtr.asFunction<int Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, int, ffi.Pointer<ffi.Char>, int)>();

  /// `pyagent_status pyagent_semantic_cache_stats_get(const pyagent_semantic_cache *cache, pyagent_semantic_stats *stats)` (semantic.h)
  int pyagent_semantic_cache_stats_get(ffi.Pointer<pyagent_semantic_cache> cache, ffi.Pointer<pyagent_semantic_stats> stats) {
    return _pyagent_semantic_cache_stats_get(cache, stats);
  }

  late final _pyagent_semantic_cache_stats_getPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_semantic_stats>)>>('pyagent_semantic_cache_stats_get');
  late final _pyagent_semantic_cache_stats_get = _pyagent_semantic_cache_stats_getPtr.asFunction<int Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_semantic_stats>)>();

  /// `pyagent_status pyagent_spec_tree_create(int32_t max_nodes, pyagent_spec_tree **tree)` (spec.h)
  int pyagent_spec_tree_create(int max_nodes, ffi.Pointer<ffi.Pointer<pyagent_spec_tree>> tree) {
    return _pyagent_spec_tree_create(max_nodes, tree);
  }

  late final _pyagent_spec_tree_createPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Int32, ffi.Pointer<ffi.Pointer<pyagent_spec_tree>>)>>('pyagent_spec_tree_create');
  late final _pyagent_spec_tree_create = _pyagent_spec_tree_createPtr.asFunction<int Function(int, ffi.Pointer<ffi.Pointer<pyagent_spec_tree>>)>();

  /// `void pyagent_spec_tree_destroy(pyagent_spec_tree *tree)` (spec.h)
  void pyagent_spec_tree_destroy(ffi.Pointer<pyagent_spec_tree> tree) {
    return _pyagent_spec_tree_destroy(tree);
  }

  late final _pyagent_spec_tree_destroyPtr =
      _lookup<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_spec_tree>)>>('pyagent_spec_tree_destroy');
  late final _pyagent_spec_tree_destroy = _pyagent_spec_tree_destroyPtr.asFunction<void Function(ffi.Pointer<pyagent_spec_tree>)>();

  /// `pyagent_status pyagent_spec_tree_clear(pyagent_spec_tree *tree)` (spec.h)
  int pyagent_spec_tree_clear(ffi.Pointer<pyagent_spec_tree> tree) {
    return _pyagent_spec_tree_clear(tree);
  }

  late final _pyagent_spec_tree_clearPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>)>>('pyagent_spec_tree_clear');
  late final _pyagent_spec_tree_clear = _pyagent_spec_tree_clearPtr.asFunction<int Function(ffi.Pointer<pyagent_spec_tree>)>();

  /// `pyagent_status pyagent_spec_tree_add(pyagent_spec_tree *tree, int32_t parent, int32_t token, float draft_logprob, int32_t *node)` (spec.h)
  int pyagent_spec_tree_add(ffi.Pointer<pyagent_spec_tree> tree, int parent, int token, double draft_logprob, ffi.Pointer<ffi.Int32> node) {
    return _pyagent_spec_tree_add(tree, parent, token, draft_logprob, node);
  }

  late final _pyagent_spec_tree_addPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Int32, ffi.Int32, ffi.Float, ffi.Pointer<ffi.Int32>)>>('pyagent_spec_tree_add');
  late final _pyagent_spec_tree_add = _pyagent_spec_tree_addPtr.asFunction<int Function(ffi.Pointer<pyagent_spec_tree>, int, int, double, ffi.Pointer<ffi.Int32>)>();

  /// `int32_t pyagent_spec_tree_size(const pyagent_spec_tree *tree)` (spec.h)
  int pyagent_spec_tree_size(ffi.Pointer<pyagent_spec_tree> tree) {
    return _pyagent_spec_tree_size(tree);
  }

  late final _pyagent_spec_tree_sizePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>)>>('pyagent_spec_tree_size');
  late final _pyagent_spec_tree_size = _pyagent_spec_tree_sizePtr.asFunction<int Function(ffi.Pointer<pyagent_spec_tree>)>();

  /// `pyagent_status pyagent_spec_tree_node(const pyagent_spec_tree *tree, int32_t node, int32_t *token, int32_t *parent, int32_t *depth, float *draft_logprob, float *path_logprob)` (spec.h)
  int pyagent_spec_tree_node(ffi.Pointer<pyagent_spec_tree> tree, int node, ffi.Pointer<ffi.Int32> token, ffi.Pointer<ffi.Int32> parent, ffi.Pointer<ffi.Int32> depth, ffi.Pointer<ffi.Float> draft_logprob, ffi.Pointer<ffi.Float> path_logprob) {
    return _pyagent_spec_tree_node(tree, node, token, parent, depth, draft_logprob, path_logprob);
  }

  late final _pyagent_spec_tree_nodePtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Int32, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Float>, ffi.Pointer<ffi.Float>)>>('pyagent_spec_tree_node');
  late final _pyagent_spec_tree_node = _pyagent_spec_tree_nodePtr.asFunction<int Function(ffi.Pointer<pyagent_spec_tree>, int, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Float>, ffi.Pointer<ffi.Float>)>();

  /// `pyagent_status pyagent_spec_tree_bfs(const pyagent_spec_tree *tree, int32_t *order, size_t capacity, size_t *needed)` (spec.h)
  int pyagent_spec_tree_bfs(ffi.Pointer<pyagent_spec_tree> tree, ffi.Pointer<ffi.Int32> order, int capacity, ffi.Pointer<ffi.Size> needed) {
    return _pyagent_spec_tree_bfs(tree, order, capacity, needed);
  }

  late final _pyagent_spec_tree_bfsPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_spec_tree_bfs');
  late final _pyagent_spec_tree_bfs = _pyagent_spec_tree_bfsPtr.asFunction<int Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Int32>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_spec_tree_positions(const pyagent_spec_tree *tree, int32_t root_position, int32_t *positions, size_t capacity, size_t *needed)` (spec.h)
  int pyagent_spec_tree_positions(ffi.Pointer<pyagent_spec_tree> tree, int root_position, ffi.Pointer<ffi.Int32> positions, int capacity, ffi.Pointer<ffi.Size> needed) {
    return _pyagent_spec_tree_positions(tree, root_position, positions, capacity, needed);
  }

  late final _pyagent_spec_tree_positionsPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Int32, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_spec_tree_positions');
  late final _pyagent_spec_tree_positions = _pyagent_spec_tree_positionsPtr.asFunction<int Function(ffi.Pointer<pyagent_spec_tree>, int, ffi.Pointer<ffi.Int32>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_spec_tree_mask(const pyagent_spec_tree *tree, uint8_t *mask, size_t capacity, size_t *needed)` (spec.h)
  int pyagent_spec_tree_mask(ffi.Pointer<pyagent_spec_tree> tree, ffi.Pointer<ffi.Uint8> mask, int capacity, ffi.Pointer<ffi.Size> needed) {
    return _pyagent_spec_tree_mask(tree, mask, capacity, needed);
  }

  late final _pyagent_spec_tree_maskPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Uint8>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_spec_tree_mask');
  late final _pyagent_spec_tree_mask = _pyagent_spec_tree_maskPtr.asFunction<int Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Uint8>, int, ffi.Pointer<ffi.Size>)>();

  /// `pyagent_status pyagent_spec_tree_paths(const pyagent_spec_tree *tree, int32_t *nodes, size_t nodes_capacity, size_t *nodes_needed, int32_t *offsets, size_t offsets_capacity, size_t *offsets_needed)` (spec.h)
  int pyagent_spec_tree_paths(ffi.Pointer<pyagent_spec_tree> tree, ffi.Pointer<ffi.Int32> nodes, int nodes_capacity, ffi.Pointer<ffi.Size> nodes_needed, ffi.Pointer<ffi.Int32> offsets, int offsets_capacity, ffi.Pointer<ffi.Size> offsets_needed) {
    return _pyagent_spec_tree_paths(tree, nodes, nodes_capacity, nodes_needed, offsets, offsets_capacity, offsets_needed);
  }

  late final _pyagent_spec_tree_pathsPtr =
      _lookup<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>>('pyagent_spec_tree_paths');
  late final _pyagent_spec_tree_paths = _pyagent_spec_tree_pathsPtr.asFunction<int Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Int32>, int, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Int32>, int, ffi.Pointer<ffi.Size>)>();

  /// `const char *pyagent_spec_tree_last_error(const pyagent_spec_tree *tree)` (spec.h)
  ffi.Pointer<ffi.Char> pyagent_spec_tree_last_error(ffi.Pointer<pyagent_spec_tree> tree) {
    return _pyagent_spec_tree_last_error(tree);
  }

  late final _pyagent_spec_tree_last_errorPtr =
      _lookup<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_spec_tree>)>>('pyagent_spec_tree_last_error');
  late final _pyagent_spec_tree_last_error = _pyagent_spec_tree_last_errorPtr.asFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_spec_tree>)>();
}

class PyagentSymbolAddresses {
  final PyagentBindings _library;
  PyagentSymbolAddresses(this._library);
  ffi.Pointer<ffi.NativeFunction<ffi.Uint32 Function()>> get pyagent_version_number => _library._pyagent_version_numberPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function()>> get pyagent_version_string => _library._pyagent_version_stringPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function()>> get pyagent_abi_version => _library._pyagent_abi_versionPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Int32)>> get pyagent_check_abi => _library._pyagent_check_abiPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Int32)>> get pyagent_status_str => _library._pyagent_status_strPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<ffi.Void>)>> get pyagent_free => _library._pyagent_freePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<pyagent_params> Function(ffi.Int32)>> get pyagent_params_create => _library._pyagent_params_createPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_params>)>> get pyagent_params_destroy => _library._pyagent_params_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Int64)>> get pyagent_params_set_i64 => _library._pyagent_params_set_i64Ptr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Double)>> get pyagent_params_set_f64 => _library._pyagent_params_set_f64Ptr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>> get pyagent_params_get_i64 => _library._pyagent_params_get_i64Ptr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>)>> get pyagent_params_get_f64 => _library._pyagent_params_get_f64Ptr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>> get pyagent_params_set_str => _library._pyagent_params_set_strPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_params_get_str => _library._pyagent_params_get_strPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>, ffi.Pointer<ffi.Double>)>> get pyagent_params_bounds => _library._pyagent_params_boundsPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_params>)>> get pyagent_params_last_error => _library._pyagent_params_last_errorPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>> get pyagent_agent_create => _library._pyagent_agent_createPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_agent>)>> get pyagent_agent_destroy => _library._pyagent_agent_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_agent>)>> get pyagent_agent_last_error => _library._pyagent_agent_last_errorPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_params>)>> get pyagent_agent_set_sampler => _library._pyagent_agent_set_samplerPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, ffi.Int64)>> get pyagent_agent_feed_text => _library._pyagent_agent_feed_textPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>, ffi.Size)>> get pyagent_agent_feed_tokens => _library._pyagent_agent_feed_tokensPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Size)>> get pyagent_agent_feed_embeddings => _library._pyagent_agent_feed_embeddingsPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>)>> get pyagent_agent_prefill => _library._pyagent_agent_prefillPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_agent_logits => _library._pyagent_agent_logitsPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_agent_hidden => _library._pyagent_agent_hiddenPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, ffi.Int64)>> get pyagent_agent_add_stop => _library._pyagent_agent_add_stopPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>)>> get pyagent_agent_clear_stops => _library._pyagent_agent_clear_stopsPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Int32, pyagent_token_fn, ffi.Pointer<ffi.Void>, ffi.Pointer<ffi.Int32>)>> get pyagent_agent_generate => _library._pyagent_agent_generatePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_agent>)>> get pyagent_agent_cancel => _library._pyagent_agent_cancelPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_agent_tokens => _library._pyagent_agent_tokensPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>)>> get pyagent_agent_reset => _library._pyagent_agent_resetPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>> get pyagent_agent_fork => _library._pyagent_agent_forkPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Size)>> get pyagent_agent_rewind => _library._pyagent_agent_rewindPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>> get pyagent_agent_set_label => _library._pyagent_agent_set_labelPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>> get pyagent_agent_get_label => _library._pyagent_agent_get_labelPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Int32, pyagent_token_fn, ffi.Pointer<ffi.Void>)>> get pyagent_agent_submit => _library._pyagent_agent_submitPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Int32>)>> get pyagent_agent_poll => _library._pyagent_agent_pollPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_spec_tree>)>> get pyagent_agent_draft => _library._pyagent_agent_draftPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>> get pyagent_agent_save => _library._pyagent_agent_savePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>> get pyagent_agent_load => _library._pyagent_agent_loadPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<ffi.Char>)>> get pyagent_agent_checkpoint => _library._pyagent_agent_checkpointPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_agent>>)>> get pyagent_agent_restore => _library._pyagent_agent_restorePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_agent_stats>)>> get pyagent_agent_stats_get => _library._pyagent_agent_stats_getPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_engine>>)>> get pyagent_engine_open => _library._pyagent_engine_openPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_engine>)>> get pyagent_engine_destroy => _library._pyagent_engine_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_engine>)>> get pyagent_engine_last_error => _library._pyagent_engine_last_errorPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Int32, pyagent_log_fn, ffi.Pointer<ffi.Void>)>> get pyagent_engine_set_log => _library._pyagent_engine_set_logPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>> get pyagent_engine_info => _library._pyagent_engine_infoPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_engine_meta_str => _library._pyagent_engine_meta_strPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Int32, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_engine_tokenize => _library._pyagent_engine_tokenizePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_engine_detokenize => _library._pyagent_engine_detokenizePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Int64, ffi.Pointer<pyagent_tensor_info>)>> get pyagent_engine_tensor => _library._pyagent_engine_tensorPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_engine_embed_tokens => _library._pyagent_engine_embed_tokensPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_engine_embed_text => _library._pyagent_engine_embed_textPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>)>> get pyagent_engine_load_draft => _library._pyagent_engine_load_draftPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Int32>)>> get pyagent_engine_step => _library._pyagent_engine_stepPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>)>> get pyagent_engine_start => _library._pyagent_engine_startPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>)>> get pyagent_engine_stop => _library._pyagent_engine_stopPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<pyagent_kv_store> Function(ffi.Pointer<pyagent_engine>)>> get pyagent_engine_kv_store => _library._pyagent_engine_kv_storePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<pyagent_kv_stats>)>> get pyagent_kv_store_stats_get => _library._pyagent_kv_store_stats_getPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<pyagent_kv_node>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_kv_store_nodes => _library._pyagent_kv_store_nodesPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Int64)>> get pyagent_kv_store_set_host_tier => _library._pyagent_kv_store_set_host_tierPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, ffi.Int64)>> get pyagent_kv_store_set_disk_tier => _library._pyagent_kv_store_set_disk_tierPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Int64, ffi.Int32, ffi.Int64)>> get pyagent_kv_store_set_redis_tier => _library._pyagent_kv_store_set_redis_tierPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>)>> get pyagent_kv_store_save => _library._pyagent_kv_store_savePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Int64>)>> get pyagent_kv_store_load => _library._pyagent_kv_store_loadPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_kv_store>)>> get pyagent_kv_store_drop_cache => _library._pyagent_kv_store_drop_cachePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Pointer<ffi.Char>>, ffi.Size, ffi.Double, ffi.Double, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_kvzap_info>)>> get pyagent_kvzap_fit => _library._pyagent_kvzap_fitPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_kvzap_info>)>> get pyagent_engine_load_kvzap => _library._pyagent_engine_load_kvzapPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Int64, ffi.Int64, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>> get pyagent_latent_export => _library._pyagent_latent_exportPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_latent_packet>)>> get pyagent_latent_packet_destroy => _library._pyagent_latent_packet_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_latent_packet>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>)>> get pyagent_latent_packet_range => _library._pyagent_latent_packet_rangePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_agent>, ffi.Pointer<pyagent_latent_packet>)>> get pyagent_latent_import => _library._pyagent_latent_importPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_latent_packet>, ffi.Int32, ffi.Pointer<ffi.Void>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_latent_packet_serialize => _library._pyagent_latent_packet_serializePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_latent_packet>, ffi.Int32, ffi.Int)>> get pyagent_latent_packet_write_fd => _library._pyagent_latent_packet_write_fdPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Void>, ffi.Size, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>> get pyagent_latent_packet_deserialize => _library._pyagent_latent_packet_deserializePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Int, ffi.Size, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>> get pyagent_latent_packet_read_fd => _library._pyagent_latent_packet_read_fdPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_latent_packet>, ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Int32)>> get pyagent_latent_packet_put_redis => _library._pyagent_latent_packet_put_redisPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Int32, ffi.Pointer<ffi.Pointer<pyagent_latent_packet>>)>> get pyagent_latent_packet_get_redis => _library._pyagent_latent_packet_get_redisPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double, ffi.Double, ffi.Pointer<ffi.Pointer<pyagent_adapter>>)>> get pyagent_adapter_fit => _library._pyagent_adapter_fitPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_adapter>)>> get pyagent_adapter_destroy => _library._pyagent_adapter_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_adapter>, ffi.Pointer<pyagent_adapter_info>)>> get pyagent_adapter_info_get => _library._pyagent_adapter_info_getPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_adapter>, ffi.Pointer<ffi.Float>, ffi.Size, ffi.Pointer<ffi.Float>, ffi.Size)>> get pyagent_adapter_apply => _library._pyagent_adapter_applyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_adapter>, ffi.Pointer<ffi.Char>)>> get pyagent_adapter_save => _library._pyagent_adapter_savePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_engine>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Pointer<pyagent_adapter>>)>> get pyagent_adapter_load => _library._pyagent_adapter_loadPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_registry>>)>> get pyagent_registry_open => _library._pyagent_registry_openPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_registry>)>> get pyagent_registry_destroy => _library._pyagent_registry_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_registry>)>> get pyagent_registry_last_error => _library._pyagent_registry_last_errorPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>)>> get pyagent_registry_add_model => _library._pyagent_registry_add_modelPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>)>> get pyagent_registry_remove_model => _library._pyagent_registry_remove_modelPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Size>)>> get pyagent_registry_list => _library._pyagent_registry_listPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Double, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double)>> get pyagent_registry_record_f64 => _library._pyagent_registry_record_f64Ptr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double)>> get pyagent_registry_record_str => _library._pyagent_registry_record_strPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Double>, ffi.Pointer<ffi.Int64>)>> get pyagent_registry_get_f64 => _library._pyagent_registry_get_f64Ptr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_registry_get_str => _library._pyagent_registry_get_strPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<pyagent_params>, ffi.Pointer<ffi.Pointer<pyagent_route>>)>> get pyagent_registry_route => _library._pyagent_registry_routePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_route>)>> get pyagent_route_destroy => _library._pyagent_route_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_route>)>> get pyagent_route_model => _library._pyagent_route_modelPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_route>)>> get pyagent_route_reason => _library._pyagent_route_reasonPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_route>, ffi.Pointer<pyagent_route_summary>)>> get pyagent_route_summary_get => _library._pyagent_route_summary_getPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Size Function(ffi.Pointer<pyagent_route>)>> get pyagent_route_n_rejected => _library._pyagent_route_n_rejectedPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_route>, ffi.Size, ffi.Pointer<ffi.Pointer<ffi.Char>>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>> get pyagent_route_rejection => _library._pyagent_route_rejectionPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int32>)>> get pyagent_registry_estimate_tokens => _library._pyagent_registry_estimate_tokensPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Int64, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Size>)>> get pyagent_registry_due => _library._pyagent_registry_duePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Pointer<ffi.Int64>)>> get pyagent_registry_last_checked => _library._pyagent_registry_last_checkedPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<pyagent_params>)>> get pyagent_registry_measure => _library._pyagent_registry_measurePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>> get pyagent_registry_import_json => _library._pyagent_registry_import_jsonPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Double, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Int64>, ffi.Pointer<ffi.Pointer<ffi.Char>>)>> get pyagent_registry_import_file => _library._pyagent_registry_import_filePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_registry>, ffi.Pointer<ffi.Char>, ffi.Int32, ffi.Pointer<ffi.Pointer<ffi.Char>>, ffi.Pointer<ffi.Size>)>> get pyagent_registry_export => _library._pyagent_registry_exportPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_semantic_config>, ffi.Pointer<ffi.Pointer<pyagent_semantic_cache>>)>> get pyagent_semantic_cache_create => _library._pyagent_semantic_cache_createPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_semantic_cache>)>> get pyagent_semantic_cache_destroy => _library._pyagent_semantic_cache_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Char>, ffi.Size, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Double>)>> get pyagent_semantic_cache_get => _library._pyagent_semantic_cache_getPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_engine>, ffi.Pointer<ffi.Char>, ffi.Int64, ffi.Pointer<ffi.Char>, ffi.Int64)>> get pyagent_semantic_cache_put => _library._pyagent_semantic_cache_putPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_semantic_cache>, ffi.Pointer<pyagent_semantic_stats>)>> get pyagent_semantic_cache_stats_get => _library._pyagent_semantic_cache_stats_getPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Int32, ffi.Pointer<ffi.Pointer<pyagent_spec_tree>>)>> get pyagent_spec_tree_create => _library._pyagent_spec_tree_createPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Void Function(ffi.Pointer<pyagent_spec_tree>)>> get pyagent_spec_tree_destroy => _library._pyagent_spec_tree_destroyPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>)>> get pyagent_spec_tree_clear => _library._pyagent_spec_tree_clearPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Int32, ffi.Int32, ffi.Float, ffi.Pointer<ffi.Int32>)>> get pyagent_spec_tree_add => _library._pyagent_spec_tree_addPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>)>> get pyagent_spec_tree_size => _library._pyagent_spec_tree_sizePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Int32, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Int32>, ffi.Pointer<ffi.Float>, ffi.Pointer<ffi.Float>)>> get pyagent_spec_tree_node => _library._pyagent_spec_tree_nodePtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_spec_tree_bfs => _library._pyagent_spec_tree_bfsPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Int32, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_spec_tree_positions => _library._pyagent_spec_tree_positionsPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Uint8>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_spec_tree_mask => _library._pyagent_spec_tree_maskPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Int32 Function(ffi.Pointer<pyagent_spec_tree>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>, ffi.Pointer<ffi.Int32>, ffi.Size, ffi.Pointer<ffi.Size>)>> get pyagent_spec_tree_paths => _library._pyagent_spec_tree_pathsPtr;
  ffi.Pointer<ffi.NativeFunction<ffi.Pointer<ffi.Char> Function(ffi.Pointer<pyagent_spec_tree>)>> get pyagent_spec_tree_last_error => _library._pyagent_spec_tree_last_errorPtr;
}
