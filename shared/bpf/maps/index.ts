// BPF_MAP_CREATE: attribute checks common to all types, dispatch to the map
// type's alloc_check/alloc, then the name. Mirrors map_create() and
// find_and_alloc_map() in kernel/bpf/syscall.c; BPF_MAP_FREEZE is map_freeze().
import type { BpfMap, BpfMapAttr, BpfMapEnv } from "./map.ts";
import { EBUSY, EINVAL, EPERM } from "../../errno.ts";
import {
  BPF_F_RDONLY, BPF_F_WRONLY, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH,
  BPF_MAP_TYPE_PROG_ARRAY, MAP_TYPE_NAMES, BPF_F_INNER_MAP, BPF_F_PRESERVE_ELEMS
} from "../isa/uapi.ts";
import { ArrayMap } from "./array_map.ts";
import { DevMap, DevMapHash } from "./devmap.ts";
import { HashMap } from "./hashtab.ts";
import { MapBase, checkObjName, isU32 } from "./map_common.ts";
import { ProgArrayMap } from "./prog_array.ts";

export { ArrayMap } from "./array_map.ts";
export { DevMap, DevMapHash } from "./devmap.ts";
export { HashMap } from "./hashtab.ts";
export { ProgArrayMap } from "./prog_array.ts";
export { MapBase, BPF_F_ACCESS_MASK } from "./map_common.ts";
export { jhash } from "./jhash.ts";

/** Map types this kernel implements; any other type is refused with -EINVAL. */
export const SUPPORTED_MAP_TYPES: readonly number[] = [
  BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY,
  BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH,
];

/** bpftool's name of a map type ("hash", "percpu_array", ...), "type N" when unknown. */
export function mapTypeName(type: number): string {
  return MAP_TYPE_NAMES[type] ?? `type ${type}`;
}

/**
 * BPF_MAP_CREATE. Checks, in the kernel's order: attribute fields that cannot be __u32
 * (-EINVAL), BPF_F_RDONLY with BPF_F_WRONLY (-EINVAL, bpf_get_file_flag()), the map type
 * (-EINVAL when unknown or not built in), the type's own rules (-EINVAL, -E2BIG,
 * -EOPNOTSUPP), memory (-ENOMEM), then the name (-EINVAL: at most 15 characters of
 * [A-Za-z0-9_.]). Values start zeroed.
 * @param id the map id the caller assigns (idr_alloc_cyclic() in the kernel)
 * @returns the map, or -errno
 * @see map_create() in kernel/bpf/syscall.c
 */
export function createMap(env: BpfMapEnv, attr: BpfMapAttr, id: number): BpfMap | number {
  if (!isU32(attr.mapType) || !isU32(attr.keySize) || !isU32(attr.valueSize) || !isU32(attr.maxEntries) ||
      !isU32(attr.mapFlags)) {
    return -EINVAL;
  }
  if ((attr.mapFlags & BPF_F_RDONLY) !== 0 && (attr.mapFlags & BPF_F_WRONLY) !== 0) return -EINVAL;
  let map: BpfMap | number;
  switch (attr.mapType) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      map = ArrayMap.create(env, attr, id);
      break;
    case BPF_MAP_TYPE_PROG_ARRAY:
      map = ProgArrayMap.create(env, attr, id);
      break;
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
      map = HashMap.create(env, attr, id);
      break;
    case BPF_MAP_TYPE_DEVMAP:
      map = DevMap.create(env, attr, id);
      break;
    case BPF_MAP_TYPE_DEVMAP_HASH:
      map = DevMapHash.create(env, attr, id);
      break;
    default:
      return -EINVAL;
  }
  if (typeof map === "number") return map;
  // The kernel copies the name after allocating, so attribute errors come first.
  const nameErr = checkObjName(attr.name);
  if (nameErr !== 0) {
    map.free();
    return nameErr;
  }
  return map;
}

/**
 * BPF_MAP_FREEZE: syscall-side updates and deletes then fail with -EPERM (programs may
 * still write unless the map has BPF_F_RDONLY_PROG). Returns 0, -EPERM (map created with
 * BPF_F_RDONLY) or -EBUSY (already frozen).
 * @see map_freeze() in kernel/bpf/syscall.c
 */
export function freezeMap(map: BpfMap): number {
  if (map instanceof MapBase) return map.freeze();
  if ((map.mapFlags & BPF_F_RDONLY) !== 0) return -EPERM;
  if (map.frozen) return -EBUSY;
  map.frozen = true;
  return 0;
}
