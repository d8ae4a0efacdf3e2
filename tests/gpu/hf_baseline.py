"""PyTorch + transformers generate (eager, random weights, F16) at the 110M llama2.c shape:
decode tokens/s at batch 1 and 16, the baseline issue 8 compares the CUDA backend with."""
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    gen = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    config = LlamaConfig(hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=12, num_key_value_heads=12, vocab_size=32000,
                         max_position_embeddings=1024, attn_implementation="eager")
    model = LlamaForCausalLM(config).half().cuda().eval()
    for batch in (1, 16):
        ids = torch.randint(3, 32000, (batch, 16), device="cuda")
        kwargs = dict(do_sample=False, min_new_tokens=gen, max_new_tokens=gen,
                      eos_token_id=None, pad_token_id=0)
        with torch.no_grad():
            model.generate(ids, **dict(kwargs, min_new_tokens=8, max_new_tokens=8))
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model.generate(ids, **kwargs)
            torch.cuda.synchronize()
        print(f"hf_decode_tps_{batch} {batch * gen / (time.perf_counter() - t0):.1f}", flush=True)


if __name__ == "__main__":
    main()
