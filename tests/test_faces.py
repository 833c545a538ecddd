import numpy as np
import pytest

from openlfr.faces import Faces


def make(n: int) -> Faces:
    boxes = np.array([[i, i, i + 10, i + 12] for i in range(n)], np.float32).reshape(-1, 4)
    return Faces(boxes, np.linspace(0.5, 0.9, n), np.zeros((n, 5, 2)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boxes": np.zeros((2, 3))}, r"boxes: expected shape \(\*, 4\), got \(2, 3\)"),
        ({"scores": np.zeros(3)}, r"scores: expected shape \(2,\), got \(3,\)"),
        ({"landmarks": np.zeros((2, 4, 2))}, r"landmarks: expected shape \(2, 5, 2\)"),
        ({"track_ids": np.zeros(1)}, r"track_ids: expected shape \(2,\)"),
        ({"embeddings": np.zeros((3, 8))}, r"embeddings: expected shape \(2, \*\)"),
    ],
)
def test_shapes_are_validated(kwargs: dict, message: str) -> None:
    base = {"boxes": np.zeros((2, 4)), "scores": np.zeros(2), "landmarks": np.zeros((2, 5, 2))}
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Faces(**base)


def test_mask_indexing_returns_filtered_copy() -> None:
    faces = make(4).with_track_ids(np.array([7, 8, 9, 10])).with_embeddings(np.eye(4, 8))
    kept = faces[np.array([True, False, True, False])]
    assert len(kept) == 2
    assert kept.track_ids.tolist() == [7, 9]
    assert kept.embeddings.shape == (2, 8)
    kept.boxes[0, 0] = 999
    assert faces.boxes[0, 0] == 0  # a copy, not a view


def test_wrong_mask_length_is_refused() -> None:
    with pytest.raises(ValueError, match="mask"):
        make(3)[np.array([True, False])]


def test_empty_and_embedded_mask() -> None:
    assert len(Faces.empty()) == 0
    emb = np.ones((3, 4), np.float32)
    emb[1] = np.nan
    assert make(3).with_embeddings(emb).embedded.tolist() == [True, False, True]
    assert make(3).embedded.tolist() == [False, False, False]
