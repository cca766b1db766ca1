"""A tiny causal LM with its own chat template and end-of-turn token, built offline in a second.

Nothing about it is SmolLM2: the turn ends with "<|end|>", the end-of-sequence token is "<eos>",
roles are marked "<|user|>"/"<|assistant|>". Its weights are fitted to one conversation so that
greedy decoding replies "hello there" and then writes "<|end|>": a generator that stops on any
other token runs on into the rest of the memorised text (it continues with "<|user|> again").
"""
from __future__ import annotations

import warnings
from pathlib import Path

TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
            "{% if add_generation_prompt %}<|assistant|> {% endif %}")
SPECIALS = ["<pad>", "<unk>", "<eos>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
WORDS = ["hi", "hello", "there", "again", "bye", "escrow", "cushion", "what", "is", "the", "answer", "[1]", "."]
REPLY = "hello there"
CONVERSATION = [{"role": "user", "content": "hi"}]
# what the weights memorise: the reply, its end token, and a continuation that must never be generated
MEMORISED = "<|user|> hi <|end|> <|assistant|> hello there <|end|> <|user|> again <|end|> <|assistant|> bye"


def build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="<eos>", additional_special_tokens=SPECIALS[3:])
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def build(folder: Path, steps: int = 150) -> Path:
    """Save the tokenizer and a 2-layer Llama fitted to MEMORISED into `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rag import offline

    offline.prepare()  # no progress bars
    torch.set_num_threads(1)  # two threads on a busy 2-core machine made this 200x slower
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    config = LlamaConfig(vocab_size=len(SPECIALS) + len(WORDS), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=64, pad_token_id=0, eos_token_id=2, bos_token_id=2,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    ids = torch.tensor([tokenizer(MEMORISED, add_special_tokens=False)["input_ids"]])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_adapter(base: Path, folder: Path, seed: int) -> Path:
    """A LoRA adapter for the tiny model with non-zero (seeded) weights: a different seed, other bytes."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        peft = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                                init_lora_weights=False, task_type="CAUSAL_LM"))
    with torch.no_grad():  # small: the memorised reply must survive the adapter
        for name, weight in peft.named_parameters():
            if "lora_" in name:
                weight.mul_(1e-3)
    peft.save_pretrained(str(folder))
    return folder
