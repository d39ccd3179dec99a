# Unity build of the sanitized (MASQUE_SANITIZE) libraries and test executables.
#
# Why: under ASan+UBSan(+libFuzzer coverage) clang spends most of a file's
# compile time generating instrumented code, and each file re-generates every
# inline function it uses (GoogleTest, nlohmann::json, the standard library).
# Compiling 8 files as one (CMake's UNITY_BUILD, batches of 8) generates that
# code once per batch: tests/world's 8 files took 56 CPU-s one by one and 14
# as one file (-O0, 2026-12-01); the whole full build ~27% less CPU time
# (library batches gain less). Same flags on the same code, so what the
# sanitizers check is unchanged; the release build never uses it.
#
# Files that define a helper under the same file-local name as another file
# of their folder (anonymous namespace or static) cannot share a batch; they
# are compiled alone, listed below. A new clash fails the sanitize build with
# "redefinition of 'NAME'": add the file named in the error here (or give the
# helper a distinct name). docs/fuzzing.md.
set(masque_unity_alone
  src/backend/cpu/decode_attention.cpp
  src/backend/cpu/gemm.cpp
  src/backend/cpu/q8_matmul.cpp
  src/backend/cpu/skinny_matmul.cpp
  src/backend/cpu/swiglu.cpp
  src/experiment/bootstrap.cpp
  src/experiment/rule_probe.cpp
  src/experiment/vector_claims.cpp
  src/experiment/vector_stages.cpp
  src/io/gguf_writer.cpp
  src/posttrain/context_probe.cpp
  src/tokenizer/bpe_trainer.cpp
  src/world/world.cpp
  tests/backend_cpu/test_gemm.cpp
  tests/backend_cpu/test_kernels.cpp
  tests/backend_cpu/test_lm_head_loss.cpp
  tests/backend_cpu/test_q8_matmul.cpp
  tests/experiment/test_analysis_stats.cpp
  tests/infer/test_gguf_q8.cpp
  tests/posttrain/test_context_probe.cpp
  tests/posttrain/test_dpo.cpp
  tests/posttrain/test_sft.cpp
  tests/train/test_trainer.cpp)
foreach(f ${masque_unity_alone})
  if(EXISTS ${PROJECT_SOURCE_DIR}/${f})
    set_source_files_properties(${PROJECT_SOURCE_DIR}/${f} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  endif()
endforeach()

# Every stage library with sources and every stage's test executable.
get_property(masque_all_targets DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
foreach(t ${masque_all_targets})
  get_target_property(type ${t} TYPE)
  if((t MATCHES "^masque_" AND type STREQUAL "STATIC_LIBRARY" AND NOT t STREQUAL "masque_backend_cuda")
     OR t MATCHES "^test_")
    set_target_properties(${t} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endif()
endforeach()
