"""The generated dandiset's layout, shared by conftest.py and the tests (a module of its own: ``from
conftest import ...`` finds whichever conftest module was imported first when folders run together)."""

N_GOOD = 6
GOOD = [f"sub-{i:02d}/sub-{i:02d}_ses-1_behavior+ecephys.nwb" for i in range(1, N_GOOD + 1)]
DAMAGED = "sub-07/sub-07_ses-1_behavior+ecephys.nwb"
MISSING = "sub-08/sub-08_ses-1_behavior+ecephys.nwb"
OTHERS = ["README.md", "dataset_description.json", "sub-01/sub-01_ses-1_image.png", "derivatives/sub-01/tc.NWB"]
BINS = 6
MINMAX = (0.0, 1.0, 0.0, 1.0)
