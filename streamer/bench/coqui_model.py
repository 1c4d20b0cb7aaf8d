"""Random-weight Coqui models built through the library's own classes, for the tests and the voice bench.

No Coqui weights ship anywhere a test may read them, so the tests build a tiny model of a real architecture (XTTS,
VITS), save it as a model folder exactly as a released model is laid out (``config.json``, ``model.pth``, XTTS's
``vocab.json``), and run the show's real loading and synthesis path on it. Its audio is noise; rate, length, timing
and plumbing are what is checked.

The bench builds XTTS v2's full-size architecture (30 GPT layers of 1,024 channels, its HiFi-GAN decoder and speaker
encoder) the same way: the compute per second of audio does not depend on the weights' values, so its real-time
factor is the one a real XTTS v2 has on that machine. Its GPT never emits its stop token, so a sentence's length is
set by :data:`streamer.voice.coqui.MAX_S_PER_CHAR` instead of by the text.
"""

from __future__ import annotations

from pathlib import Path

#: Characters a test vocabulary knows (XTTS lower-cases its input).
_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789'.,!?-:;"
_SPECIALS = ("[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]", "[zh-cn]", "[de]")


def _xtts_vocab(path: Path) -> None:
    from tokenizers import Tokenizer, models

    vocab = {name: i for i, name in enumerate(_SPECIALS)}
    for ch in _CHARS:
        vocab.setdefault(ch, len(vocab))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens(list(_SPECIALS))
    tokenizer.save(str(path))


def build_xtts(
    folder: str | Path,
    *,
    layers: int = 1,
    model_dim: int = 64,
    heads: int = 2,
    max_audio_tokens: int = 40,
    decoder_dim: int = 64,
    languages: tuple[str, ...] = ("en", "zh-cn", "de"),
    seed: int = 0,
) -> Path:
    """An XTTS model folder with random weights (defaults: tiny; ``layers=30, model_dim=1024, heads=16,
    max_audio_tokens=605, decoder_dim=1024``: XTTS v2's shape)."""
    import torch
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts, XttsArgs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _xtts_vocab(folder / "vocab.json")
    args = XttsArgs(
        gpt_layers=layers,
        gpt_n_model_channels=model_dim,
        gpt_n_heads=heads,
        gpt_max_audio_tokens=max_audio_tokens,
        gpt_max_text_tokens=402,
        gpt_max_prompt_tokens=70,
        gpt_num_audio_tokens=1026,
        gpt_start_audio_token=1024,
        gpt_stop_audio_token=1025,
        gpt_use_perceiver_resampler=True,
        decoder_input_dim=decoder_dim,
        d_vector_dim=512,
        cond_d_vector_in_each_upsampling_layer=True,
    )
    config = XttsConfig(model_args=args, languages=list(languages))
    torch.manual_seed(seed)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(str(folder / "vocab.json"))
    model.init_models()
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder


def build_vits(folder: str | Path, *, seed: int = 0) -> Path:
    """A small one-voice VITS model folder with random weights, reading characters (no phonemizer)."""
    import torch
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    args = VitsArgs(
        hidden_channels=32,
        hidden_channels_ffn_text_encoder=64,
        num_heads_text_encoder=2,
        num_layers_text_encoder=1,
        num_layers_posterior_encoder=1,
        num_layers_flow=1,
        resblock_type_decoder="2",
        upsample_initial_channel_decoder=32,
        resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 3]],
        upsample_rates_decoder=[8, 8, 4],
        upsample_kernel_sizes_decoder=[16, 16, 8],
        dropout_p_duration_predictor=0.0,
    )
    characters = CharactersConfig(
        characters_class="TTS.tts.models.vits.VitsCharacters",
        pad="_",
        eos="",
        bos="",
        blank=None,
        characters="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        punctuations="!'(),-.:;? ",
        phonemes=None,
    )
    config = VitsConfig(
        model_args=args, use_phonemes=False, text_cleaner="english_cleaners", characters=characters, add_blank=True
    )
    config.audio.sample_rate = 22_050
    config.audio.hop_length = 256
    config.audio.win_length = 1024
    config.audio.fft_size = 1024
    torch.manual_seed(seed)
    model = Vits(config)
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder
