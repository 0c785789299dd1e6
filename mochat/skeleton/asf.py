"""CMU Acclaim ASF/AMC reader and writer: skeleton + per-frame bone rotations <-> world joints.

An ASF file declares the skeleton: each bone's rest direction and length (global frame), its
local axis frame (`axis`, Euler angles) and its degrees of freedom; an AMC file gives every
frame's dof values. Forward kinematics is the standard Acclaim one: a bone's local rotation
is L = C @ M @ C^-1 (C from `axis`, M from the frame's dof values), its world rotation
W = W_parent @ L, and its far end = parent's end + W @ (direction * length). Euler angles
apply the first listed axis first ("XYZ" and "rx ry rz" are Rz @ Ry @ Rx, scipy's extrinsic
"xyz"), as the CMU tools do.

`read_asf_amc` returns a joint `root` at the root position, then one joint per bone, named
after the bone and located at its far end (lfemur's joint is the knee): the convention of
the `cmu_asf` layout. Lengths stay in the file's units (CMU: `length 0.45`, so one unit is
1/0.45 inch); converting them is a later step.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from mochat.errors import DataFormatError, InvalidSkeletonError
from mochat.skeleton.bvh import BvhMotion

_ROT = ("rx", "ry", "rz")
_TRANS = ("tx", "ty", "tz")
_BONE_DOFS = (*_ROT, *_TRANS, "l")
_Lines = list[tuple[int, list[str]]]  # (1-based line number, tokens) of non-empty lines


@dataclass(frozen=True)
class _Bone:
    name: str
    parent: str
    direction: np.ndarray  # (3,) unit vector, global rest frame
    length: float
    axis: np.ndarray  # (3,) Euler angles of C, in the ASF's angle unit
    axis_order: str  # scipy extrinsic sequence, e.g. "xyz"
    dof: tuple[str, ...]  # AMC column order, e.g. ("rx", "ry", "rz")


@dataclass(frozen=True)
class _Skeleton:
    degrees: bool  # the ASF's angle unit
    root: _Bone  # axis = orientation, dof = `order` (tx ty tz rx ry rz, any order)
    root_position: np.ndarray
    bones: tuple[_Bone, ...]  # ASF order, moved only where needed to follow their parent


def read_asf_amc(asf_path: str | Path, amc_path: str | Path, *, fps: float = 120.0
                 ) -> BvhMotion:
    """Parse an ASF skeleton and its AMC motion -> world joints (T, 1 + bones, 3), float32.

    Joint 0 is `root`; the others are the ASF's bones in `:bonedata` order (a bone listed
    before its parent is moved after it), each at its far end; `parents` index the parent
    bone's joint. AMC files carry no frame rate; CMU's is 120 fps. Errors name the file
    and line.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    asf_path, amc_path = Path(asf_path), Path(amc_path)
    skeleton = _read_asf(asf_path)
    values, degrees = _read_amc(amc_path, skeleton)
    positions = _forward_kinematics(skeleton, values, degrees)
    names = ("root", *(b.name for b in skeleton.bones))
    index = {n: i for i, n in enumerate(names)}
    parents = (-1, *(index[b.parent] for b in skeleton.bones))
    return BvhMotion(names, parents, positions, float(fps))


def _lines(path: Path, kind: str) -> _Lines:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: cannot read {kind}: {err}") from err
    lines = [(n, raw.split("#", 1)[0].split()) for n, raw in enumerate(text.splitlines(), 1)]
    return [(n, tokens) for n, tokens in lines if tokens]


def _floats(tokens: list[str], count: int, where: str, what: str) -> np.ndarray:
    try:
        if len(tokens) != count:
            raise ValueError
        return np.array([float(t) for t in tokens])
    except ValueError:
        raise DataFormatError(f"{where}: {what} needs {count} numbers, got {tokens}") from None


def _axis_order(token: str, where: str) -> str:
    order = token.lower()
    if sorted(order) != ["x", "y", "z"]:
        raise DataFormatError(f"{where}: axis order {token!r} is not a permutation of XYZ")
    return order


def _read_asf(path: Path) -> _Skeleton:
    sections = _sections(path)

    def need(key: str) -> tuple[int, _Lines]:  # checked in file order: truncation shows first
        if key not in sections:
            raise DataFormatError(f"{path}: no :{key} section")
        return sections[key]

    degrees = _parse_units(sections.get("units", (0, []))[1], path)
    root, position = _parse_root(need("root"), path)
    bones = _parse_bonedata(need("bonedata"), path)
    parent_of = _parse_hierarchy(need("hierarchy"), path, [b["name"] for b in bones])
    built = []
    for fields in bones:
        line = fields.pop("line")
        if fields["name"] not in parent_of:
            raise DataFormatError(f"{path}:{line}: bone {fields['name']!r} is not in :hierarchy")
        built.append(_Bone(parent=parent_of[fields["name"]], **fields))
    return _Skeleton(degrees, root, position, _parents_first(built, path))


def _sections(path: Path) -> dict[str, tuple[int, _Lines]]:
    """':keyword' lines and the lines under each, by lower-case keyword."""
    sections: dict[str, tuple[int, _Lines]] = {}
    body: _Lines | None = None
    for n, tokens in _lines(path, "ASF"):
        if tokens[0].startswith(":"):
            key = tokens[0][1:].lower()
            if key in sections:
                raise DataFormatError(f"{path}:{n}: second :{key} section")
            body = []
            sections[key] = (n, body)
        elif body is None:
            raise DataFormatError(f"{path}:{n}: expected a ':keyword' line, got {tokens[0]!r}")
        else:
            body.append((n, tokens))
    return sections


def _parse_units(body: _Lines, path: Path) -> bool:
    n, angle = {t[0].lower(): (n, t[1:]) for n, t in body}.get("angle", (0, ["deg"]))
    if [a.lower() for a in angle] not in (["deg"], ["rad"]):
        raise DataFormatError(f"{path}:{n}: angle unit {angle}; expected 'deg' or 'rad'")
    return angle[0].lower() == "deg"


def _parse_root(section: tuple[int, _Lines], path: Path) -> tuple[_Bone, np.ndarray]:
    start, body = section
    fields = {"axis": (start, ["XYZ"]), "position": (start, ["0"] * 3),
              "orientation": (start, ["0"] * 3), **{t[0].lower(): (n, t[1:]) for n, t in body}}
    if "order" not in fields:
        raise DataFormatError(f"{path}:{start}: :root has no 'order' line")
    n, order = fields["order"]
    channels = tuple(t.lower() for t in order)
    if any(c not in (*_TRANS, *_ROT) for c in channels) or len(set(channels)) != len(channels):
        raise DataFormatError(f"{path}:{n}: root order {order} must list distinct TX TY TZ "
                              "RX RY RZ")
    n, axis = fields["axis"]
    axis_order = _axis_order(axis[0] if len(axis) == 1 else "", f"{path}:{n}")
    vec = {k: _floats(fields[k][1], 3, f"{path}:{fields[k][0]}", f"root {k}")
           for k in ("position", "orientation")}
    return (_Bone("root", "", np.zeros(3), 0.0, vec["orientation"], axis_order, channels),
            vec["position"])


def _parse_bonedata(section: tuple[int, _Lines], path: Path) -> list[dict]:
    """begin/end blocks -> one dict of `_Bone` fields (no parent yet) per bone."""
    bones: list[dict] = []
    fields: dict[str, tuple[int, list[str]]] | None = None
    opened = section[0]
    for n, tokens in section[1]:
        key = tokens[0].lower()
        if key == "begin":
            if fields is not None:
                raise DataFormatError(f"{path}:{n}: 'begin' inside the bone opened at {opened}")
            fields, opened = {}, n
        elif fields is None:
            raise DataFormatError(f"{path}:{n}: {tokens[0]!r} outside a begin/end bone block")
        elif key == "end":
            bones.append(_bone_fields(fields, opened, path))
            fields = None
        elif not key.startswith("("):  # "(lo hi)" lines continue a `limits` entry
            fields[key] = (n, tokens[1:])
    if fields is not None:
        raise DataFormatError(f"{path}:{opened}: bone block never ends (file truncated?)")
    if not bones:
        raise DataFormatError(f"{path}:{section[0]}: :bonedata declares no bones")
    return bones


def _bone_fields(fields: dict[str, tuple[int, list[str]]], opened: int, path: Path) -> dict:
    for key in ("name", "direction", "length"):
        if key not in fields:
            raise DataFormatError(f"{path}:{opened}: bone block has no {key!r}")
    fields = {"axis": (opened, ["0", "0", "0", "XYZ"]), "dof": (opened, []), **fields}
    where = {key: f"{path}:{n}" for key, (n, _) in fields.items()}
    name, direction, length = fields["name"][1], fields["direction"][1], fields["length"][1]
    if len(name) != 1 or name[0] == "root":
        raise DataFormatError(f"{where['name']}: bad bone name {name}")
    vector = _floats(direction, 3, where["direction"], "direction")
    norm = float(np.linalg.norm(vector))
    axis, dof = fields["axis"][1], [d.lower() for d in fields["dof"][1]]
    if any(d not in _BONE_DOFS for d in dof) or len(set(dof)) != len(dof):
        raise DataFormatError(f"{where['dof']}: dof {dof} must list distinct "
                              f"{' '.join(_BONE_DOFS)}")
    return {"name": name[0], "line": opened,
            "direction": vector / norm if norm > 0 else vector,
            "length": float(_floats(length, 1, where["length"], "length")[0]),
            "axis": _floats(axis[:3], 3, where["axis"], "axis"),
            "axis_order": _axis_order(axis[3] if len(axis) == 4 else "", where["axis"]),
            "dof": tuple(dof)}


def _parse_hierarchy(section: tuple[int, _Lines], path: Path, names: list[str]
                     ) -> dict[str, str]:
    known = {"root", *names}
    parent_of: dict[str, str] = {}
    for n, tokens in section[1]:
        if tokens[0].lower() in ("begin", "end"):
            continue
        for name in tokens:
            if name not in known:
                raise DataFormatError(f"{path}:{n}: :hierarchy names unknown bone {name!r}")
        for child in tokens[1:]:
            if child in parent_of or child == "root":
                raise DataFormatError(f"{path}:{n}: bone {child!r} has a second parent")
            parent_of[child] = tokens[0]
    return parent_of


def _parents_first(bones: list[_Bone], path: Path) -> tuple[_Bone, ...]:
    """Keep ASF order, but take each time the first bone whose parent is already placed."""
    placed, ordered, left = {"root"}, [], list(bones)
    while left:
        ready = next((b for b in left if b.parent in placed), None)
        if ready is None:
            raise DataFormatError(f"{path}: :hierarchy does not reach bones "
                                  f"{[b.name for b in left]} from root")
        ordered.append(ready)
        placed.add(ready.name)
        left.remove(ready)
    return tuple(ordered)


def _read_amc(path: Path, skeleton: _Skeleton) -> tuple[dict[str, np.ndarray], bool]:
    """Frame blocks -> ({bone: (T, dofs) values}, degrees); frames numbered consecutively.

    A bone left out of a frame keeps zeros, unless the header says :FULLY-SPECIFIED.
    """
    counts = {b.name: len(b.dof) for b in (skeleton.root, *skeleton.bones)}
    degrees, fully = skeleton.degrees, False
    frames: list[dict[str, list[float]]] = []
    starts: list[tuple[int, int]] = []  # (line, frame number) of each frame
    for n, tokens in _lines(path, "AMC"):
        head, where = tokens[0], f"{path}:{n}"
        if head.startswith(":"):
            if frames:
                raise DataFormatError(f"{where}: header line {head!r} after the first frame")
            fully |= head.upper() == ":FULLY-SPECIFIED"
            degrees = {":DEGREES": True, ":RADIANS": False}.get(head.upper(), degrees)
        elif len(tokens) == 1 and head.isdigit():
            if starts and int(head) != starts[-1][1] + 1:
                raise DataFormatError(f"{where}: frame {head} does not follow frame "
                                      f"{starts[-1][1]}; frames must be consecutive")
            frames.append({})
            starts.append((n, int(head)))
        elif not frames:
            raise DataFormatError(f"{where}: expected a frame number, got {head!r}")
        elif head not in counts:
            raise DataFormatError(f"{where}: unknown bone {head!r}")
        elif head in frames[-1]:
            raise DataFormatError(f"{where}: bone {head!r} twice in one frame")
        else:
            frames[-1][head] = list(_floats(tokens[1:], counts[head], where, head))
    if not frames:
        raise DataFormatError(f"{path}: no frames")
    for (start, number), frame in zip(starts, frames, strict=True):
        missing = [b for b, c in counts.items() if c and b not in frame]
        if fully and missing:
            raise DataFormatError(f"{path}:{start}: frame {number} of a :FULLY-SPECIFIED "
                                  f"file lacks {missing}")
    return {b: np.array([f.get(b, [0.0] * c) for f in frames]).reshape(len(frames), c)
            for b, c in counts.items()}, degrees


def _local(bone: _Bone, values: np.ndarray, skeleton: _Skeleton, degrees: bool) -> Rotation:
    """C @ M @ C^-1 per frame; M from the bone's rotation dofs, the first listed applied first."""
    c = Rotation.from_euler(bone.axis_order, bone.axis, degrees=skeleton.degrees)
    rot = [k for k, d in enumerate(bone.dof) if d in _ROT]
    if not rot:
        return Rotation.identity(len(values))
    seq = "".join(bone.dof[k][1] for k in rot)
    return c * Rotation.from_euler(seq, values[:, rot], degrees=degrees) * c.inv()


def _translation(bone: _Bone, values: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(T, 3): `base`, with each axis that the bone has a tx/ty/tz dof for replaced by it."""
    out = np.tile(base, (len(values), 1))
    for k, d in enumerate(bone.dof):
        if d in _TRANS:
            out[:, _TRANS.index(d)] = values[:, k]
    return out


def _forward_kinematics(skeleton: _Skeleton, values: dict[str, np.ndarray], degrees: bool
                        ) -> np.ndarray:
    """Acclaim FK (module docstring) -> (T, 1 + bones, 3) float32.

    The root's AMC translations replace its ASF `position`. Bone translation dofs (rare)
    shift the bone's end in its axis frame C and `l` adds to its length, both before the
    bone's rotation.
    """
    world = {"root": _local(skeleton.root, values["root"], skeleton, degrees)}
    ends = {"root": _translation(skeleton.root, values["root"], skeleton.root_position)}
    for bone in skeleton.bones:
        v = values[bone.name]
        world[bone.name] = world[bone.parent] * _local(bone, v, skeleton, degrees)
        length = bone.length + (v[:, bone.dof.index("l")] if "l" in bone.dof else 0.0)
        shift = Rotation.from_euler(bone.axis_order, bone.axis, degrees=skeleton.degrees
                                    ).apply(_translation(bone, v, np.zeros(3)))
        offset = bone.direction * np.reshape(length, (-1, 1)) + shift  # (T, 3)
        ends[bone.name] = ends[bone.parent] + world[bone.name].apply(offset)
    joints = [ends["root"], *(ends[b.name] for b in skeleton.bones)]
    return np.stack(joints, axis=1).astype(np.float32)  # J x (T, 3) -> (T, J, 3)


def write_asf_amc(asf_path: str | Path, amc_path: str | Path, joint_names: Sequence[str],
                  parents: Sequence[int], positions: np.ndarray) -> None:
    """Write world joints (T, J, 3) of a tree as ASF/AMC that `read_asf_amc` reads back.

    Joint 0 becomes the Acclaim root (read back as `root`, whatever its name here); joint
    j > 0 becomes the bone from its parent to it, named joint_names[j], so names, order and
    parents round-trip. Each bone's `direction`/`length` is its vector at frame 0, `axis`
    is 0 0 0 XYZ, and bones of non-zero length get `dof rx ry rz`. Per frame, a bone's world
    rotation takes its frame-0 vector exactly onto its current one, twisted about it to best
    follow its children's vectors; its AMC angles are (parent's world rotation)^-1 @ that.
    The root gets the rotation that best aligns its children's vectors (weighted by length).

    Acclaim gives every bone its own rotation, so positions are reproduced exactly (to the
    written precision) whenever the motion is rigid: each bone keeps its frame-0 length
    (siblings need not move together). Otherwise every bone keeps its current direction at
    its frame-0 length, and zero-length bones stay at zero.
    """
    names, parent_idx, joints = _check_tree(joint_names, parents, positions)
    frames, num = joints.shape[:2]
    vectors = joints - joints[:, parent_idx]  # (T, J, 3); row 0 is unused
    vectors[:, 0] = 0.0
    lengths = np.linalg.norm(vectors[0], axis=1)
    extent = float(np.ptp(joints[0], axis=0).max())
    bends = lengths > 1e-9 * max(extent, 1e-9)  # zero-length bones carry no rotation
    bends[0] = False
    children = [[c for c in range(1, num) if parent_idx[c] == j and bends[c]]
                for j in range(num)]
    world = [_root_rotation(vectors[:, children[0]], lengths[children[0]])]
    for j in range(1, num):
        if not bends[j]:
            world.append(world[parent_idx[j]])
            continue
        world.append(_aim(vectors[:, j], vectors[:, children[j]]))
    with warnings.catch_warnings():  # near gimbal lock the angles still compose exactly
        warnings.filterwarnings("ignore", message="Gimbal lock")
        angles = [world[0].as_euler("xyz", degrees=True), *(
            (world[parent_idx[j]].inv() * world[j]).as_euler("xyz", degrees=True)
            for j in range(1, num))]
    asf_path, amc_path = Path(asf_path), Path(amc_path)
    asf_path.write_text(_asf_text(names, parent_idx, vectors[0], lengths, bends))
    blocks = [":FULLY-SPECIFIED", ":DEGREES"]
    for t in range(frames):
        blocks.append(f"{t + 1}\nroot {_numbers(joints[t, 0])} {_numbers(angles[0][t])}")
        blocks += [f"{names[j]} {_numbers(angles[j][t])}" for j in range(1, num) if bends[j]]
    amc_path.write_text(f"#!OML:ASF {asf_path.name}\n" + "\n".join(blocks) + "\n")


def _check_tree(joint_names: Sequence[str], parents: Sequence[int], positions: np.ndarray
                ) -> tuple[list[str], np.ndarray, np.ndarray]:
    joints = np.asarray(positions, dtype=np.float64)
    names, num = [str(n) for n in joint_names], len(joint_names)
    if joints.ndim != 3 or joints.shape[1:] != (num, 3) or not len(joints) or not np.isfinite(
            joints).all():
        raise InvalidSkeletonError(f"positions must be finite, (T >= 1, {num}, 3); got shape "
                                   f"{joints.shape}")
    if len(parents) != num or parents[0] != -1 or any(not 0 <= p < j for j, p in
                                                      enumerate(parents) if j):
        raise InvalidSkeletonError(f"parents must be -1 for joint 0 and an earlier joint "
                                   f"otherwise, got {list(parents)}")
    bad = [n for n in names[1:] if n in ("", "root") or n.isdigit() or n[0] in ":#("
           or len(n.split()) != 1]
    if bad or len(set(names[1:])) != num - 1:
        raise InvalidSkeletonError(f"bone names must be unique single words, not 'root' or a "
                                   f"number; got {bad or names}")
    return names, np.array(parents), joints


def _numbers(values: np.ndarray) -> str:
    return " ".join(f"{v:.10g}" for v in values)


def _aim(bone: np.ndarray, kids: np.ndarray) -> Rotation:
    """Rotations taking a bone's frame-0 vector exactly onto its vector at each frame, bone
    (T, 3), turned about it so that its children's vectors kids (T, K, 3) follow best.

    The swing is the smallest rotation onto the bone's direction (about a = rest x current);
    the twist about that direction b is the angle that best turns the children's swung
    frame-0 vectors onto their current ones, both projected onto the plane normal to b.
    """
    a = bone[0] / np.linalg.norm(bone[0])
    norm = np.linalg.norm(bone, axis=1, keepdims=True)
    b = np.where(norm > 0, bone / np.where(norm > 0, norm, 1.0), a)  # (T, 3) directions
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis, axis=1), b @ a
    helper = np.cross(a, np.eye(3)[np.argmin(np.abs(a))])  # any axis normal to a, for b == -a
    unit = np.where(sin[:, None] > 1e-12, axis / np.maximum(sin, 1e-300)[:, None],
                    helper / np.linalg.norm(helper))
    swing = Rotation.from_rotvec(unit * np.arctan2(sin, cos)[:, None])
    if kids.shape[1] == 0:
        return swing
    moved = np.stack([swing.apply(k) for k in kids[0]], axis=1)  # (T, K, 3)
    u = moved - np.einsum("tkd,td->tk", moved, b)[..., None] * b[:, None]
    w = kids - np.einsum("tkd,td->tk", kids, b)[..., None] * b[:, None]
    sin, cos = np.einsum("td,tkd->t", b, np.cross(u, w)), np.einsum("tkd,tkd->t", u, w)
    return Rotation.from_rotvec(b * np.arctan2(sin, cos)[:, None]) * swing


def _root_rotation(current: np.ndarray, lengths: np.ndarray) -> Rotation:
    """Per frame, the rotation best taking the frame-0 vectors (T, K, 3) onto frame t's."""
    if current.shape[1] == 0:
        return Rotation.identity(len(current))
    return Rotation.concatenate([Rotation.align_vectors(frame, current[0], weights=lengths)[0]
                                 for frame in current])


def _asf_text(names: list[str], parents: np.ndarray, vectors: np.ndarray,
              lengths: np.ndarray, bends: np.ndarray) -> str:
    lines = ["# written by mochat.skeleton.asf.write_asf_amc", ":version 1.10", ":name mochat",
             ":units", "  mass 1.0", "  length 1.0", "  angle deg", ":root",
             "  order TX TY TZ RX RY RZ", "  axis XYZ", "  position 0 0 0",
             "  orientation 0 0 0", ":bonedata"]
    for j in range(1, len(names)):
        direction = vectors[j] / lengths[j] if bends[j] else np.array([0.0, 0.0, 1.0])
        lines += ["  begin", f"    id {j}", f"    name {names[j]}",
                  f"    direction {_numbers(direction)}",
                  f"    length {lengths[j] if bends[j] else 0.0:.10g}", "    axis 0 0 0 XYZ",
                  *(["    dof rx ry rz"] if bends[j] else []), "  end"]
    lines += [":hierarchy", "  begin"]
    for j in range(len(names)):
        kids = [names[c] for c in range(1, len(names)) if parents[c] == j]
        if kids:
            lines.append(f"    {'root' if j == 0 else names[j]} {' '.join(kids)}")
    return "\n".join([*lines, "  end"]) + "\n"
