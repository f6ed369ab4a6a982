"""The one chunk planner: every row or window once, in order, under the byte budget."""
import pytest

from swin_mm.fast import chunks


def test_items_per_chunk_follows_the_budget(monkeypatch):
    monkeypatch.setattr(chunks, 'CHUNK_BYTES', 100)
    assert chunks.items_per_chunk(30) == 3 and chunks.items_per_chunk(1000) == 1


def test_row_chunks_cover_every_row_once_under_the_budget(monkeypatch):
    monkeypatch.setattr(chunks, 'CHUNK_BYTES', 100)
    got = chunks.row_chunks(23, 30)  # 3 rows of 30 bytes per chunk
    assert [(s.start, s.stop) for s in got] == [(0, 3), (3, 6), (6, 9), (9, 12), (12, 15),
                                                (15, 18), (18, 21), (21, 23)]
    assert chunks.row_chunks(5, 1000) == [slice(i, i + 1) for i in range(5)]  # >= 1 row each


@pytest.mark.parametrize('per_chunk', [1, 2, 3, 5, 6, 7, 100])
def test_window_ranges_are_whole_images_or_part_of_one(per_chunk):
    images, per_image = 3, 5
    ranges = chunks.window_ranges(images, per_image, per_chunk)
    covered = []
    for windows, in_image in ranges:
        count = windows.stop - windows.start
        assert 0 < count <= max(per_chunk, per_image)
        if in_image == slice(0, per_image):  # whole images
            assert windows.start % per_image == 0 and count % per_image == 0
        else:  # part of one image, and the mask rows that go with it
            assert windows.start // per_image == (windows.stop - 1) // per_image
            assert in_image == slice(windows.start % per_image, windows.start % per_image + count)
        covered += range(windows.start, windows.stop)
    assert covered == list(range(images * per_image))
