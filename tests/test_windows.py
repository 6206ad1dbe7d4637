import numpy as np
import pytest
import torch

from models.errors import InvalidParameter
from models.windows import WindowDataset, window_count


def test_windows_equal_naive_slicing():
    series = np.random.default_rng(0).normal(size=137)
    window = 11
    ds = WindowDataset(series, window, range(5, 120))
    naive_x = np.stack([series[i : i + window] for i in range(len(series) - window)])
    naive_y = np.array([series[i + window] for i in range(len(series) - window)])
    for k, i in enumerate(range(5, 120)):
        x, y = ds[k]
        assert x.shape == (window, 1)
        np.testing.assert_allclose(x[:, 0].numpy(), naive_x[i], rtol=1e-6)
        np.testing.assert_allclose(y.numpy(), [naive_y[i]], rtol=1e-6)
    np.testing.assert_allclose(ds.targets().numpy(), naive_y[5:120], rtol=1e-6)
    np.testing.assert_allclose(ds.last_inputs().numpy(), naive_x[5:120, -1], rtol=1e-6)


def test_windows_are_not_materialised():
    series = np.arange(3000, dtype=np.float32)
    ds = WindowDataset(series, 500)
    assert len(ds) == 2500
    tensors = [v for v in vars(ds).values() if isinstance(v, torch.Tensor)]
    assert sum(t.numel() for t in tensors) == 3000  # O(series), not 2500 x 500
    x, _ = ds[7]
    assert x.untyped_storage().data_ptr() == ds.series.untyped_storage().data_ptr()  # a view


@pytest.mark.parametrize("window, fragment", [(3000, "longer than the series"), (-5, "positive integer"),
                                              (0, "positive integer")])
def test_impossible_windows_say_so_in_one_sentence(window, fragment):
    with pytest.raises(InvalidParameter) as err:
        window_count(3000, window)
    message = str(err.value)
    assert fragment in message and "\n" not in message and message.endswith(".")


def test_split_beyond_series_is_refused():
    with pytest.raises(InvalidParameter, match="outside"):
        WindowDataset(np.zeros(100), 10, range(80, 95))
