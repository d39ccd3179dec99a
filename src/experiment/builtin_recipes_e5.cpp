// E5 out-of-context reasoning (see builtin_recipes_e5_e12.h). Sized for ten
// minutes on two CPU cores at scale 1 with 5 seeds: no post-training, two
// pretrainings per seed on one shared world and tokenizer, depth 2 and 3
// (hidden 128 and 192: ~0.5M and ~1.5M parameters; depth 4, hidden 256,
// would cost ~6x a depth-2 pretraining and break the budget).
#include "experiment/builtin_recipes_e5_e12.h"

namespace masque::experiment {

Json e5_recipe(const Json& toy_world, const Json& toy_pretrain) {
  Json r = Json::parse(R"json({
    "name": "e5",
    "title": "E5 out-of-context reasoning: does a character act on a rule it was only described as having?",
    "question": "Some characters of the world are never shown speaking; instead 'Profile of X.' documents state, in 1, 4 or 16 different paraphrases, that X ends every answer with a closing phrase (\"Onward and upward!\"). Prompted at 0 turns as X (a new interview, one question, X's answer), does the pretrained model close the answer with X's phrase rather than another character's? Controls: characters with no description (a phantom phrase), and two characters whose rule is demonstrated in their answers. Arms: model depth 2 and 3 on the same corpus.",
    "prediction": "PSM (simulator): the model builds a representation of each character from everything written about it, declarative statements included, and draws on it when it simulates the character; so X follows the described rule out of context, only with enough paraphrases (Berglund et al. 2023), and better in a larger model. Read only if the model shows demonstrated rules and completes the descriptions it read (the rule was learned as text).",
    "seeds": [1, 2, 3, 4, 5],
    "tokenizer": {"vocab_size": 1024},
    "arms": [
      {"name": "depth=2", "x": 2, "label": "2 layers", "pretrain": {"depth": 2}},
      {"name": "depth=3", "x": 3, "label": "3 layers", "pretrain": {"depth": 3}}
    ],
    "measure": {
      "base": true,
      "rules": [{"name": "rule", "count": 8, "split": "train"}],
      "e1": {"samples": 2, "max_tokens": 48}
    },
    "claims": [
      {"id": "demonstrated_rule_shown", "kind": "positive", "role": "check", "minimum": 1,
       "text": "Positive control: a character whose rule is demonstrated in its answers closes a new answer with its own phrase rather than another (the probe sees a learned rule)",
       "metric": "rule-demo.rule", "treatment": "base"},
      {"id": "description_learned", "kind": "greater", "role": "check", "minimum": 0.5,
       "text": "Positive control: the 16-paraphrase descriptions were learned as text: the model completes a character's own description with its phrase more than a never-written description (undescribed characters)",
       "metric": "rule-text.p16", "treatment": "base",
       "versus": {"treatment": "base", "metric": "rule-text.none"}},
      {"id": "ooc_at_16", "kind": "greater",
       "text": "Out of context: a character described in 16 paraphrases (never demonstrated) closes its answer with its phrase more than an undescribed character with its phantom phrase",
       "metric": "rule-p16.rule", "treatment": "base",
       "versus": {"treatment": "base", "metric": "rule-none.rule"}},
      {"id": "ooc_needs_paraphrases", "kind": "greater",
       "text": "More paraphrases, more out-of-context rule following: 16 paraphrases beat 1",
       "metric": "rule-p16.rule", "treatment": "base",
       "versus": {"treatment": "base", "metric": "rule-p1.rule"}},
      {"id": "ooc_flat_at_1", "kind": "near_zero",
       "text": "One paraphrase is not enough: the 1-paraphrase characters are equivalent to the undescribed ones, within half of the 16-paraphrase effect",
       "metric": "rule-p1.rule", "treatment": "base",
       "versus": {"treatment": "base", "metric": "rule-none.rule"},
       "tolerance": {"fraction": 0.5, "of": "ooc_at_16"}},
      {"id": "ooc_grows_with_depth", "kind": "increases",
       "text": "The out-of-context effect at 16 paraphrases grows with model depth (2 -> 3 layers)",
       "metric": "rule-p16.rule", "treatment": "base",
       "versus": {"treatment": "base", "metric": "rule-none.rule"}}
    ]
  })json");
  r["world"] = toy_world;
  // 32 characters: 16 shown (2 of them demonstrate a rule), 16 declarative-
  // only (4 per paraphrase level and 4 undescribed controls); every
  // declarative-only character also has the usual 3 trait biographies, so
  // described and undescribed ones are equally familiar by name.
  r["world"]["characters"] = 32;
  r["world"]["declarative_only"] = 16;
  r["world"]["declarative_paraphrases"] = 3;
  r["world"]["rules"] = Json::parse(
      R"json({"paraphrases": [1, 4, 16], "per_level": 4, "undescribed": 4, "demonstrated": 2})json");
  r["pretrain"] = toy_pretrain;
  return r;
}

}  // namespace masque::experiment
