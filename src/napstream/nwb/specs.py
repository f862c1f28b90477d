"""Neurodata type inheritance: is a ``PoseEstimationSeries`` a ``SpatialSeries``?

napstream decides what an object is by inheritance, not by its exact type name, so extension
subtypes get their parent's treatment (columns x/y/z for SpatialSeries subtypes, electrodes for
ElectricalSeries subtypes...). The parents of the core NWB and hdmf-common types are built in;
the parents of extension types are read from the namespace specifications cached in the file
(``/specifications/<namespace>/<version>/*``, JSON or YAML text), only when an unknown type is met.

Examples
--------
>>> types = TypeTree()
>>> types.ancestry("SpikeEventSeries")
('SpikeEventSeries', 'ElectricalSeries', 'TimeSeries', 'NWBDataInterface', 'NWBContainer', 'Container')
>>> types.is_a("Units", "DynamicTable")
True
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["CORE_PARENTS", "TypeTree", "attr_text"]

#: parent of every core NWB (2.0-2.9) and hdmf-common type (NWB 2.0b names included)
CORE_PARENTS: dict[str, str | None] = {
    "Container": None, "Data": None, "NWBContainer": "Container", "NWBDataInterface": "NWBContainer",
    "NWBData": "Data", "TimeSeries": "NWBDataInterface", "ProcessingModule": "NWBContainer",
    "Images": "NWBDataInterface", "TimeSeriesReferenceVectorData": "VectorData", "BaseImage": "NWBData",
    "Image": "BaseImage", "ExternalImage": "BaseImage", "ImageReferences": "NWBData",
    "SpatialSeries": "TimeSeries", "BehavioralEpochs": "NWBDataInterface", "BehavioralEvents": "NWBDataInterface",
    "BehavioralTimeSeries": "NWBDataInterface", "PupilTracking": "NWBDataInterface",
    "EyeTracking": "NWBDataInterface", "CompassDirection": "NWBDataInterface", "Position": "NWBDataInterface",
    "Device": "NWBContainer", "DeviceModel": "NWBContainer", "ElectricalSeries": "TimeSeries",
    "SpikeEventSeries": "ElectricalSeries", "FeatureExtraction": "NWBDataInterface",
    "EventDetection": "NWBDataInterface", "EventWaveform": "NWBDataInterface", "FilteredEphys": "NWBDataInterface",
    "LFP": "NWBDataInterface", "ElectrodeGroup": "NWBContainer", "ElectrodesTable": "DynamicTable",
    "ClusterWaveforms": "NWBDataInterface", "Clustering": "NWBDataInterface", "TimeIntervals": "DynamicTable",
    "NWBFile": "NWBContainer", "LabMetaData": "NWBContainer", "Subject": "NWBContainer", "ScratchData": "NWBData",
    "PatchClampSeries": "TimeSeries", "CurrentClampSeries": "PatchClampSeries",
    "IZeroClampSeries": "CurrentClampSeries", "CurrentClampStimulusSeries": "PatchClampSeries",
    "VoltageClampSeries": "PatchClampSeries", "VoltageClampStimulusSeries": "PatchClampSeries",
    "IntracellularElectrode": "NWBContainer", "SweepTable": "DynamicTable",
    "IntracellularElectrodesTable": "DynamicTable", "IntracellularStimuliTable": "DynamicTable",
    "IntracellularResponsesTable": "DynamicTable", "IntracellularRecordingsTable": "AlignedDynamicTable",
    "SimultaneousRecordingsTable": "DynamicTable", "SequentialRecordingsTable": "DynamicTable",
    "RepetitionsTable": "DynamicTable", "ExperimentalConditionsTable": "DynamicTable",
    "ImageSeries": "TimeSeries", "ImageMaskSeries": "ImageSeries", "OpticalSeries": "ImageSeries",
    "IndexSeries": "TimeSeries", "GrayscaleImage": "Image", "RGBImage": "Image", "RGBAImage": "Image",
    "AbstractFeatureSeries": "TimeSeries", "AnnotationSeries": "TimeSeries", "IntervalSeries": "TimeSeries",
    "FrequencyBandsTable": "DynamicTable", "DecompositionSeries": "TimeSeries", "Units": "DynamicTable",
    "OptogeneticSeries": "TimeSeries", "OptogeneticStimulusSite": "NWBContainer", "OnePhotonSeries": "ImageSeries",
    "TwoPhotonSeries": "ImageSeries", "RoiResponseSeries": "TimeSeries", "DfOverF": "NWBDataInterface",
    "Fluorescence": "NWBDataInterface", "ImageSegmentation": "NWBDataInterface", "PlaneSegmentation": "DynamicTable",
    "ImagingPlane": "NWBContainer", "OpticalChannel": "NWBContainer", "MotionCorrection": "NWBDataInterface",
    "CorrectedImageStack": "NWBDataInterface", "ImagingRetinotopy": "NWBDataInterface",
    "SimpleMultiContainer": "Container", "CSRMatrix": "Container", "DynamicTable": "Container",
    "AlignedDynamicTable": "DynamicTable", "VectorData": "Data", "VectorIndex": "VectorData",
    "ElementIdentifiers": "Data", "DynamicTableRegion": "VectorData", "EnumData": "VectorData", "HERD": "Container",
    # NWB 2.0b / hdmf < 1.0 names still found in old files
    "TableColumn": "Data", "ElectrodeTable": "DynamicTable", "ElectrodeTableRegion": "Data", "Index": "Data",
}


def attr_text(value: Any, default: str = "") -> str:
    """An HDF5 string attribute as ``str``: bytes decoded, a 1-element array (matnwb 2.0b) unwrapped."""
    if value is None:
        return default
    if hasattr(value, "shape") and getattr(value, "ndim", 0) >= 1:
        if value.size != 1:
            return default
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def _walk_defs(specs: Any, out: dict[str, str | None]) -> None:
    for spec in specs or ():
        if not isinstance(spec, dict):
            continue
        name = spec.get("neurodata_type_def") or spec.get("data_type_def")
        parent = spec.get("neurodata_type_inc") or spec.get("data_type_inc")
        if isinstance(name, str):
            out.setdefault(name, parent if isinstance(parent, str) else None)
        _walk_defs(spec.get("groups"), out)
        _walk_defs(spec.get("datasets"), out)


def _parse_spec_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # optional: older pynwb cached YAML
    except ImportError:
        return None
    try:
        return yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - an unreadable spec only loses extension inheritance
        return None


class TypeTree:
    """Parents of neurodata types: built-in core types plus the file's cached extension specs.

    Parameters
    ----------
    file : h5py.File, optional
        The file whose ``/specifications`` group is read (lazily) for extension types.

    Examples
    --------
    >>> TypeTree().is_a("OpticalSeries", "ImageSeries")
    True
    """

    def __init__(self, file: Any = None) -> None:
        self._file = file
        self._parents: dict[str, str | None] = dict(CORE_PARENTS)
        self._read_namespaces: set[str] = set()

    def _load_namespace(self, namespace: str) -> None:
        """Read the cached specs of ``namespace`` (every version; later ones win) once."""
        if namespace in self._read_namespaces or self._file is None:
            return
        self._read_namespaces.add(namespace)
        try:
            group = self._file.get(f"specifications/{namespace}")
            if group is None:
                return
            found: dict[str, str | None] = {}
            for version in sorted(group):
                for source in group[version]:
                    raw = group[version][source][()]
                    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                    spec = _parse_spec_text(text)
                    if isinstance(spec, dict):
                        _walk_defs(spec.get("groups"), found)
                        _walk_defs(spec.get("datasets"), found)
            for name, parent in found.items():
                if name not in CORE_PARENTS:
                    self._parents[name] = parent
        except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError):
            return  # a damaged spec only loses extension inheritance

    def _load_all(self) -> None:
        try:
            names = list(self._file.get("specifications") or ()) if self._file is not None else []
        except (OSError, KeyError, ValueError, RuntimeError):
            names = []
        for ns in names:
            self._load_namespace(ns)

    def ancestry(self, ntype: str, namespace: str = "") -> tuple[str, ...]:
        """``(ntype, parent, grandparent, ...)``; unknown types end the chain."""
        if ntype not in self._parents:
            if namespace:
                self._load_namespace(namespace)
            if ntype not in self._parents:
                self._load_all()
        chain = [ntype]
        parent = self._parents.get(ntype)
        while parent and parent not in chain and len(chain) < 64:
            chain.append(parent)
            if parent not in self._parents:
                self._load_all()
            parent = self._parents.get(parent)
        return tuple(chain)

    def is_a(self, ntype: str, base: str, namespace: str = "") -> bool:
        """True when ``ntype`` is ``base`` or inherits from it."""
        return base in self.ancestry(ntype, namespace)
