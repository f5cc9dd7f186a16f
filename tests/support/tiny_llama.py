"""A tiny random LLaMA for tests: 2 layers, a byte-level BPE tokenizer trained here, seeded."""

from __future__ import annotations

from pathlib import Path

TINY_CORPUS = [
    "Below is an instruction that describes a task. Write a response.",
    "### Instruction: ### Input: ### Response: Question: Context: Options:",
    "A. B. C. D. E. yes no maybe The answer is",
    "aspirin inhibits cyclooxygenase; metformin lowers hepatic glucose output.",
    "The patient presents with fever, cough and dyspnea. Chest radiograph shows consolidation.",
    "BRCA1 mutations increase the risk of breast and ovarian cancer.",
    "0 1 2 3 4 5 6 7 8 9 , . ; : ( ) [ ] - ' \" ? !",
]


def build_tiny_llama(path: Path, seed: int = 0, hidden_size: int = 32) -> Path:
    """A 2-layer LLaMA with a byte-level BPE tokenizer trained here; random weights, seeded
    (``hidden_size`` 256 and up: wide enough that oneDNN runs its products on bf16 units)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(TINY_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<pad>",
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path
