from streamer.memory import limit_malloc_arenas


def test_glibc_accepts_the_arena_limit_on_linux():
    assert limit_malloc_arenas(2) is True
