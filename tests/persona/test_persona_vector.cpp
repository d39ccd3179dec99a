// PersonaVector files: round trip, refusal of another model's vector (naming
// both fingerprints), of NaN/inf/zero layers, wrong sizes and foreign files,
// nothing written on error; the interventions built from a vector.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "../infer/tiny_world.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "persona/control_vector_gguf.h"
#include "persona/persona_vector.h"

namespace masque::persona {
namespace {

namespace fs = std::filesystem;

PersonaVector make_vector(const test_world::TinyWorld& w) {
  PersonaVector v;
  v.trait = "kindness";
  v.method = "mean-diff";
  v.positions = "response";
  v.pairs = 12;
  v.model = model_fingerprint(w.config, w.tokenizer);
  v.masque_version = "0.1.0";
  v.hidden_size = w.config.hidden_size;
  v.layers.assign(w.config.num_hidden_layers + 1, {});
  for (int l = 1; l <= w.config.num_hidden_layers; ++l) {
    for (int i = 0; i < v.hidden_size; ++i) v.layers[l].push_back(0.1f * l + 0.01f * i);
  }
  v.best_layer = 2;
  v.notes["model_hint"] = "tiny";
  return v;
}

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

TEST(PersonaVector, RoundTripsThroughSafetensors) {
  const auto w = test_world::make_tiny_world("pv_roundtrip");
  const PersonaVector v = make_vector(w);
  const fs::path path = w.dir / "k.vec.safetensors";
  save_persona_vector(v, path);
  const PersonaVector back = load_persona_vector(path, w.config, w.tokenizer);
  EXPECT_EQ(back.trait, "kindness");
  EXPECT_EQ(back.method, "mean-diff");
  EXPECT_EQ(back.positions, "response");
  EXPECT_EQ(back.pairs, 12);
  EXPECT_EQ(back.model, v.model);
  EXPECT_EQ(back.hidden_size, 32);
  EXPECT_EQ(back.num_layers(), 2);
  EXPECT_EQ(back.best_layer, 2);
  EXPECT_FALSE(back.has_layer(0));  // absent layers stay absent
  EXPECT_EQ(back.layers[1], v.layers[1]);
  EXPECT_EQ(back.layers[2], v.layers[2]);
  EXPECT_EQ(back.notes.at("model_hint"), "tiny");
  // The file is plain safetensors with tensors layers.L and string metadata.
  const SafetensorsFile file(path);
  EXPECT_TRUE(file.contains("layers.1"));
  EXPECT_FALSE(file.contains("layers.0"));
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("trait"), "kindness");
  EXPECT_EQ(file.metadata().at("config_hash"), v.model.config_hash);
  EXPECT_EQ(file.metadata().at("tokenizer_fingerprint"), v.model.tokenizer);
}

TEST(PersonaVector, RefusesAnotherModelNamingBothFingerprints) {
  const auto w = test_world::make_tiny_world("pv_other");
  PersonaVector v = make_vector(w);
  const fs::path path = w.dir / "k.vec.safetensors";
  save_persona_vector(v, path);
  ModelConfig other = w.config;
  other.rope_theta = 500000.0f;
  const ModelFingerprint mine = model_fingerprint(w.config, w.tokenizer);
  const ModelFingerprint theirs = model_fingerprint(other, w.tokenizer);
  ASSERT_NE(mine.config_hash, theirs.config_hash);
  const std::string msg =
      error_of<InputError>([&] { load_persona_vector(path, other, w.tokenizer); });
  EXPECT_NE(msg.find(mine.config_hash), std::string::npos) << msg;
  EXPECT_NE(msg.find(theirs.config_hash), std::string::npos) << msg;
  EXPECT_NE(msg.find("another model"), std::string::npos) << msg;

  // Another hidden size with an unknown fingerprint (an imported vector).
  v.model = {};
  ModelConfig wide = w.config;
  wide.hidden_size = 64;
  wide.head_dim = 16;
  EXPECT_NE(error_of<InputError>([&] {
              check_vector_matches(v, model_fingerprint(wide, w.tokenizer), wide, "v");
            }).find("hidden size 32"),
            std::string::npos);
}

TEST(PersonaVector, SaveRefusesBadVectorsAndWritesNothing) {
  const auto w = test_world::make_tiny_world("pv_bad");
  const fs::path path = w.dir / "bad.vec.safetensors";
  PersonaVector nan = make_vector(w);
  nan.layers[1][3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(error_of<InputError>([&] { save_persona_vector(nan, path); }).find("NaN"),
            std::string::npos);
  PersonaVector inf = make_vector(w);
  inf.layers[2][0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(save_persona_vector(inf, path), InputError);
  PersonaVector zero = make_vector(w);
  std::fill(zero.layers[1].begin(), zero.layers[1].end(), 0.0f);
  EXPECT_NE(error_of<InputError>([&] { save_persona_vector(zero, path); }).find("zero vector"),
            std::string::npos);
  PersonaVector short_layer = make_vector(w);
  short_layer.layers[1].pop_back();
  EXPECT_THROW(save_persona_vector(short_layer, path), InputError);
  PersonaVector empty = make_vector(w);
  for (auto& l : empty.layers) l.clear();
  empty.best_layer = -1;
  EXPECT_THROW(save_persona_vector(empty, path), InputError);
  EXPECT_FALSE(fs::exists(path));
  for (const auto& entry : fs::directory_iterator(w.dir)) {
    EXPECT_EQ(entry.path().filename().string().find("bad.vec"), std::string::npos)
        << "temporary left behind: " << entry.path();
  }
}

TEST(PersonaVector, LoadRefusesNanZeroAndForeignFiles) {
  const auto w = test_world::make_tiny_world("pv_load");
  // A NaN written by hand (save would refuse it).
  SafetensorsWriter writer;
  std::vector<float> values(32, 1.0f);
  values[5] = std::numeric_limits<float>::quiet_NaN();
  writer.add_f32("layers.1", {32}, values.data());
  writer.set_metadata("masque.persona_vector", "1");
  writer.set_metadata("hidden_size", "32");
  writer.set_metadata("num_layers", "2");
  writer.write(w.dir / "nan.safetensors");
  EXPECT_NE(
      error_of<FormatError>([&] { load_persona_vector(w.dir / "nan.safetensors"); }).find("NaN"),
      std::string::npos);

  SafetensorsWriter zeros;
  std::vector<float> zero(32, 0.0f);
  zeros.add_f32("layers.2", {32}, zero.data());
  zeros.set_metadata("masque.persona_vector", "1");
  zeros.set_metadata("hidden_size", "32");
  zeros.set_metadata("num_layers", "2");
  zeros.write(w.dir / "zero.safetensors");
  EXPECT_NE(error_of<FormatError>([&] {
              load_persona_vector(w.dir / "zero.safetensors");
            }).find("zero vector"),
            std::string::npos);

  SafetensorsWriter wrong_shape;
  std::vector<float> ones(16, 1.0f);
  wrong_shape.add_f32("layers.1", {16}, ones.data());
  wrong_shape.set_metadata("masque.persona_vector", "1");
  wrong_shape.set_metadata("hidden_size", "32");
  wrong_shape.set_metadata("num_layers", "2");
  wrong_shape.write(w.dir / "shape.safetensors");
  EXPECT_THROW(load_persona_vector(w.dir / "shape.safetensors"), FormatError);

  SafetensorsWriter out_of_range;
  out_of_range.add_f32("layers.7", {32}, values.data());
  out_of_range.set_metadata("masque.persona_vector", "1");
  out_of_range.set_metadata("hidden_size", "32");
  out_of_range.set_metadata("num_layers", "2");
  out_of_range.write(w.dir / "range.safetensors");
  EXPECT_NE(error_of<FormatError>([&] {
              load_persona_vector(w.dir / "range.safetensors");
            }).find("layers.7"),
            std::string::npos);

  // A model's weights are not a persona vector.
  SafetensorsWriter foreign;
  const std::vector<float> norm(32, 1.0f);  // (`ones` holds 16: ASan found the over-read)
  foreign.add_f32("model.norm.weight", {32}, norm.data());
  foreign.write(w.dir / "model.safetensors");
  EXPECT_NE(error_of<FormatError>([&] {
              load_persona_vector(w.dir / "model.safetensors");
            }).find("not a masque persona vector"),
            std::string::npos);
  std::ofstream(w.dir / "junk.bin") << "not a tensor file at all";
  EXPECT_THROW(load_persona_vector(w.dir / "junk.bin"), FormatError);
  EXPECT_THROW(load_persona_vector(w.dir / "missing.safetensors"), FormatError);
}

TEST(PersonaVector, BuildsInterventionsAtTheRightSite) {
  const auto w = test_world::make_tiny_world("pv_iv");
  PersonaVector v = make_vector(w);
  const Intervention add = steer_intervention(v, 2, 4.0f, PositionScope::kResponse, 1);
  EXPECT_EQ(add.site, InterventionSite::kResidPost);
  EXPECT_EQ(add.layer, 1);  // layer 2 = after block 2 = resid_post of 0-based block 1
  EXPECT_EQ(add.kind, InterventionKind::kAdd);
  EXPECT_FLOAT_EQ(add.alpha, 4.0f);
  EXPECT_EQ(add.scope, PositionScope::kResponse);
  EXPECT_EQ(add.batch_row, 1);
  EXPECT_EQ(add.vector, v.layers[2]);
  const Intervention ablate = ablate_intervention(v, 1);
  EXPECT_EQ(ablate.kind, InterventionKind::kProjectOut);
  EXPECT_EQ(ablate.layer, 0);
  Observation obs;
  const Intervention embed = observe_intervention(0, 2, &obs);
  EXPECT_EQ(embed.site, InterventionSite::kEmbed);
  EXPECT_EQ(embed.observation, &obs);
  // Out of range, or a layer the vector lacks: InputError naming the layers.
  EXPECT_NE(error_of<InputError>([&] { steer_intervention(v, 3, 1.0f); }).find("0..2"),
            std::string::npos);
  EXPECT_NE(error_of<InputError>([&] { steer_intervention(v, 0, 1.0f); }).find("present: 1,2"),
            std::string::npos);
  EXPECT_THROW(observe_intervention(-1, 2, &obs), InputError);
  // Entries pass the model's own validation.
  Interventions list;
  list.add(add, w.config.num_hidden_layers, w.config.hidden_size);
  list.add(ablate, w.config.num_hidden_layers, w.config.hidden_size);
  list.add(embed, w.config.num_hidden_layers, w.config.hidden_size);
  EXPECT_EQ(list.list().size(), 3u);
  EXPECT_EQ(v.default_layer(), 2);
  v.best_layer = -1;
  EXPECT_THROW(v.default_layer(), InputError);
  const std::vector<float> a = {3.0f, 4.0f}, dir = {0.0f, 2.0f};
  EXPECT_DOUBLE_EQ(projection(a, dir), 4.0);
}

TEST(PersonaVector, ControlVectorGgufRoundTripAndRefusals) {
  const auto w = test_world::make_tiny_world("pv_gguf");
  const PersonaVector v = make_vector(w);  // layers 1 and 2 of a 2-block model
  const fs::path path = w.dir / "k.gguf";
  // llama.cpp numbering: direction.k is added after 0-based block k = layer k+1,
  // so only layer 2 can be written (as direction.1).
  EXPECT_EQ(write_control_vector_gguf(v, "tiny", path), 1);
  const GgufFile file(path);
  EXPECT_EQ(file.get("general.architecture").as_string("a"), "controlvector");
  EXPECT_EQ(file.get("controlvector.model_hint").as_string("h"), "tiny");
  EXPECT_EQ(file.get("controlvector.layer_count").type(), GgufType::U32);
  EXPECT_EQ(file.get("controlvector.layer_count").as_u64("c"), 1u);
  ASSERT_TRUE(file.has_tensor("direction.1"));
  const PersonaVector back = load_persona_vector(path, w.config, w.tokenizer);
  EXPECT_EQ(back.method, "gguf");
  EXPECT_FALSE(back.model.known());
  EXPECT_EQ(back.best_layer, -1);
  EXPECT_EQ(back.layers[2], v.layers[2]);
  EXPECT_FALSE(back.has_layer(1));

  PersonaVector low = v;
  low.layers[2].clear();
  low.best_layer = 1;
  EXPECT_THROW(write_control_vector_gguf(low, "tiny", w.dir / "low.gguf"), InputError);
  EXPECT_FALSE(fs::exists(w.dir / "low.gguf"));

  // A model GGUF (another architecture), a direction.0, a NaN: refused.
  const std::vector<float> ones(32, 1.0f);
  write_gguf_f32(w.dir / "model.gguf", {{"general.architecture", GgufValue::string("llama")}},
                 {{"direction.1", {32}, ones}});
  EXPECT_THROW(load_persona_vector(w.dir / "model.gguf"), FormatError);
  write_gguf_f32(w.dir / "zero.gguf",
                 {{"general.architecture", GgufValue::string("controlvector")}},
                 {{"direction.0", {32}, ones}});
  EXPECT_NE(
      error_of<FormatError>([&] { load_persona_vector(w.dir / "zero.gguf"); }).find("direction.0"),
      std::string::npos);
  std::vector<float> nan = ones;
  nan[3] = std::numeric_limits<float>::quiet_NaN();
  write_gguf_f32(w.dir / "nan.gguf", {{"general.architecture", GgufValue::string("controlvector")}},
                 {{"direction.1", {32}, nan}});
  EXPECT_THROW(load_persona_vector(w.dir / "nan.gguf"), FormatError);
  // Wider than the model: refused by the shape check.
  const std::vector<float> wide(64, 1.0f);
  write_gguf_f32(w.dir / "wide.gguf",
                 {{"general.architecture", GgufValue::string("controlvector")}},
                 {{"direction.1", {64}, wide}});
  EXPECT_THROW(load_persona_vector(w.dir / "wide.gguf", w.config, w.tokenizer), InputError);
}

}  // namespace
}  // namespace masque::persona
