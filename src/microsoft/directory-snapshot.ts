// One tenant's directory, as much of it as the mapping checks need, in typed
// arrays: a million users take about 30 MB where objects with their addresses
// would take several hundred, so a million-row mapping can be joined against
// the whole directory inside the validator's memory budget.
//
// No address is kept, only a 64-bit hash of it (the mapping validator's own
// hash of the lower-cased text, so case rules agree). The price: two different
// addresses with the same 64 bits would look alike. With n keys and m look-ups
// the chance of any false hit is about n·m / 2^64: for 1,000,000 users against
// 1,000,000 rows, about 5e-8, and about 3e-8 that two users' keys collide and
// one hides the other; about 1e-7 in all, far below a typo in the file.
//
// Layout: per-user slots (flags and the user's id hash) appended densely; an
// address table (open addressing, linear probing: hash high, hash low, slot)
// for the UPN, the mail and every smtp: proxy address; an id table (slot only,
// checked against the slot's id hash) for delta rounds, whose removals carry
// only the id. A changed user gets a new slot and the old one dies: stale
// address entries then point at a dead slot and read as absent, are reused by
// later inserts, and are dropped when a table is rebuilt.
import { emailHash } from '../mapping/duplicate-index';

export interface SnapshotEntry {
  readonly enabled: boolean;
  readonly licensed: boolean;
  readonly mailbox: boolean;
}

/** What the snapshot reads of a user (GraphUser has it). */
export interface SnapshotUser {
  id: string;
  userPrincipalName: string;
  accountEnabled: boolean;
  assignedLicenses: readonly unknown[];
  mail: string | null;
  proxyAddresses: readonly string[];
}

const ALIVE = 1;
const ENABLED = 2;
const LICENSED = 4;
const MAILBOX = 8;
/** on an address entry: the key is its user's UPN, which a mail or proxy address of another user does not displace (as Graph resolves /users/{upn} first) */
const UPN_KEY = 0x80000000;
const SLOT_MASK = 0x7fffffff;
const MAX_LOAD = 0.75;
const GROWTH = 1.5;
const MIN_CAPACITY = 1024;
/** dead slots tolerated before the slots are compacted, beyond as many as live ones */
const COMPACT_AFTER = 4096;

const ENTRIES: readonly SnapshotEntry[] = Array.from({ length: 8 }, (_, bits) =>
  Object.freeze({ enabled: (bits & 1) !== 0, licensed: (bits & 2) !== 0, mailbox: (bits & 4) !== 0 }),
);

/** Capacities are not powers of two (growth by 1.5 wastes less): the home bucket is the hash's high bits scaled to the capacity. */
const home = (hi: number, capacity: number) => Math.floor(((hi >>> 0) / 4294967296) * capacity);
const capacityFor = (entries: number) => Math.max(MIN_CAPACITY, Math.ceil((entries * GROWTH) / MAX_LOAD));

export class DirectorySnapshot {
  private slotFlags: Uint8Array;
  private slotIdHi: Int32Array;
  private slotIdLo: Int32Array;
  private slots = 0;
  private live = 0;
  private dead = 0;

  private keyHi: Int32Array;
  private keyLo: Int32Array;
  private keyRef: Uint32Array;
  private keysUsed = 0;

  private idRef: Uint32Array;
  private idsUsed = 0;

  /**
   * @param expectedUsers when known (Graph's users/$count), the tables are sized for it once: growing
   * them as the users arrive holds the old and the new arrays at once, a third more memory at the peak.
   */
  constructor(expectedUsers = 0) {
    const users = Math.max(MIN_CAPACITY, Math.ceil(expectedUsers * 1.05));
    const table = Math.max(MIN_CAPACITY, Math.ceil(users / MAX_LOAD) + 1);
    this.slotFlags = new Uint8Array(users);
    this.slotIdHi = new Int32Array(users);
    this.slotIdLo = new Int32Array(users);
    // One address per user (UPN = mail = primary SMTP, the common case); more make the table grow.
    this.keyHi = new Int32Array(table);
    this.keyLo = new Int32Array(table);
    this.keyRef = new Uint32Array(table);
    this.idRef = new Uint32Array(table);
  }

  /** users held */
  get size(): number {
    return this.live;
  }

  /** bytes of the typed arrays, i.e. nearly all the snapshot holds */
  get byteLength(): number {
    return [this.slotFlags, this.slotIdHi, this.slotIdLo, this.keyHi, this.keyLo, this.keyRef, this.idRef].reduce((sum, a) => sum + a.byteLength, 0);
  }

  /** Adds the user, or replaces what the snapshot held for the same id (addresses included). */
  apply(user: SnapshotUser): void {
    const [idLo, idHi] = emailHash(user.id);
    if (this.idsUsed + 1 > this.idRef.length * MAX_LOAD) this.rebuildIds(capacityFor(this.live + 1));
    const at = this.locateId(idHi, idLo);
    const ref = this.idRef[at];
    if (ref === 0) this.idsUsed += 1;
    else if (this.slotIdHi[ref - 1] === idHi && this.slotIdLo[ref - 1] === idLo && this.alive(ref - 1)) this.kill(ref - 1);
    const flags =
      ALIVE | (user.accountEnabled ? ENABLED : 0) | (user.assignedLicenses.length > 0 ? LICENSED : 0) | (user.mail ? MAILBOX : 0);
    const slot = this.newSlot(idHi, idLo, flags);
    this.idRef[at] = slot + 1;
    const upn = user.userPrincipalName;
    const mail = user.mail;
    if (upn) this.putKey(upn, slot, true);
    // Most users' mail and primary SMTP address are their UPN: not hashed again when spelled the same.
    if (mail && mail !== upn) this.putKey(mail, slot, false);
    for (const proxy of user.proxyAddresses) {
      // SMTP: is the primary address, smtp: the others; x500:, sip: and the like are not mail addresses.
      if (proxy.length <= 5 || proxy.slice(0, 5).toLowerCase() !== 'smtp:') continue;
      if (sameAddress(proxy, upn) || (mail && sameAddress(proxy, mail))) continue;
      this.putKey(proxy.slice(5), slot, false);
    }
    this.maybeCompact();
  }

  /** Forgets the user with this id; false when the snapshot did not hold it. */
  remove(id: string): boolean {
    const [idLo, idHi] = emailHash(id);
    const slot = this.findSlot(idHi, idLo);
    if (slot < 0) return false;
    this.kill(slot);
    this.maybeCompact();
    return true;
  }

  /** The user whose UPN, mail or smtp: proxy address this is (any letter case). */
  lookup(address: string): SnapshotEntry | undefined {
    const [lo, hi] = emailHash(address);
    const capacity = this.keyRef.length;
    for (let i = home(hi, capacity); ; i = i + 1 === capacity ? 0 : i + 1) {
      const ref = this.keyRef[i];
      if (ref === 0) return undefined;
      if (this.keyHi[i] === hi && this.keyLo[i] === lo) {
        // A key is held at most once: a dead owner means the address is gone.
        const flags = this.slotFlags[(ref & SLOT_MASK) - 1];
        return flags & ALIVE ? ENTRIES[flags >> 1] : undefined;
      }
    }
  }

  private alive(slot: number): boolean {
    return (this.slotFlags[slot] & ALIVE) !== 0;
  }

  private kill(slot: number): void {
    this.slotFlags[slot] = 0;
    this.live -= 1;
    this.dead += 1;
  }

  private newSlot(idHi: number, idLo: number, flags: number): number {
    if (this.slots === this.slotFlags.length) {
      const capacity = Math.ceil(this.slots * GROWTH);
      this.slotFlags = grow(this.slotFlags, new Uint8Array(capacity));
      this.slotIdHi = grow(this.slotIdHi, new Int32Array(capacity));
      this.slotIdLo = grow(this.slotIdLo, new Int32Array(capacity));
    }
    const slot = this.slots++;
    this.slotFlags[slot] = flags;
    this.slotIdHi[slot] = idHi;
    this.slotIdLo[slot] = idLo;
    this.live += 1;
    return slot;
  }

  /** The live slot of the user with this id hash, or -1. */
  private findSlot(idHi: number, idLo: number): number {
    const capacity = this.idRef.length;
    for (let i = home(idHi, capacity); ; i = i + 1 === capacity ? 0 : i + 1) {
      const ref = this.idRef[i];
      if (ref === 0) return -1;
      const slot = ref - 1;
      if (this.slotIdHi[slot] === idHi && this.slotIdLo[slot] === idLo && this.alive(slot)) return slot;
    }
  }

  /** Where the id's entry is (its live or dead slot), or else where it goes: the first entry of a dead slot, or the empty one ending the run. */
  private locateId(idHi: number, idLo: number): number {
    const capacity = this.idRef.length;
    let reusable = -1;
    let i = home(idHi, capacity);
    for (; ; i = i + 1 === capacity ? 0 : i + 1) {
      const ref = this.idRef[i];
      if (ref === 0) return reusable >= 0 ? reusable : i;
      const other = ref - 1;
      if (this.slotIdHi[other] === idHi && this.slotIdLo[other] === idLo) return i;
      if (reusable < 0 && !this.alive(other)) reusable = i;
    }
  }

  /** The id table holds nothing the slots do not: rebuilt from them, dead entries dropped. */
  private rebuildIds(capacity: number): void {
    const table = new Uint32Array(capacity);
    for (let slot = 0; slot < this.slots; slot += 1) {
      if (!this.alive(slot)) continue;
      let i = home(this.slotIdHi[slot], capacity);
      while (table[i] !== 0) i = i + 1 === capacity ? 0 : i + 1;
      table[i] = slot + 1;
    }
    this.idRef = table;
    this.idsUsed = this.live;
  }

  private putKey(address: string, slot: number, isUpn: boolean): void {
    if (this.keysUsed + 1 > this.keyRef.length * MAX_LOAD) this.rebuildKeys();
    const [lo, hi] = emailHash(address);
    const capacity = this.keyRef.length;
    let reusable = -1;
    let i = home(hi, capacity);
    for (; ; i = i + 1 === capacity ? 0 : i + 1) {
      const ref = this.keyRef[i];
      if (ref === 0) break;
      const owner = (ref & SLOT_MASK) - 1;
      if (this.keyHi[i] === hi && this.keyLo[i] === lo) {
        const ownerAlive = this.alive(owner);
        if (!isUpn && ownerAlive && owner !== slot && ref & UPN_KEY) return;
        const upn = isUpn || (owner === slot && (ref & UPN_KEY) !== 0);
        this.keyRef[i] = (slot + 1) | (upn ? UPN_KEY : 0);
        return;
      }
      if (reusable < 0 && !this.alive(owner)) reusable = i;
    }
    if (reusable < 0) this.keysUsed += 1;
    else i = reusable;
    this.keyHi[i] = hi;
    this.keyLo[i] = lo;
    this.keyRef[i] = (slot + 1) | (isUpn ? UPN_KEY : 0);
  }

  /** Re-inserts the live entries into a table sized for them (grown by half when the table was full of live ones). */
  private rebuildKeys(remap?: Int32Array): void {
    let liveKeys = 0;
    for (let i = 0; i < this.keyRef.length; i += 1) {
      const ref = this.keyRef[i];
      if (ref !== 0 && this.alive((ref & SLOT_MASK) - 1)) liveKeys += 1;
    }
    const capacity = capacityFor(liveKeys);
    const hiTable = new Int32Array(capacity);
    const loTable = new Int32Array(capacity);
    const refTable = new Uint32Array(capacity);
    for (let j = 0; j < this.keyRef.length; j += 1) {
      const ref = this.keyRef[j];
      if (ref === 0) continue;
      const owner = (ref & SLOT_MASK) - 1;
      if (!this.alive(owner)) continue;
      const hi = this.keyHi[j];
      let i = home(hi, capacity);
      while (refTable[i] !== 0) i = i + 1 === capacity ? 0 : i + 1;
      hiTable[i] = hi;
      loTable[i] = this.keyLo[j];
      refTable[i] = ((remap ? remap[owner] : owner) + 1) | (ref & UPN_KEY);
    }
    this.keyHi = hiTable;
    this.keyLo = loTable;
    this.keyRef = refTable;
    this.keysUsed = liveKeys;
  }

  /** Delta rounds kill slots; once there are more dead than live ones, the live ones move together. */
  private maybeCompact(): void {
    if (this.dead <= COMPACT_AFTER || this.dead <= this.live) return;
    const remap = new Int32Array(this.slots).fill(-1);
    const capacity = Math.max(MIN_CAPACITY, Math.ceil(this.live * GROWTH));
    const flags = new Uint8Array(capacity);
    const idHi = new Int32Array(capacity);
    const idLo = new Int32Array(capacity);
    let next = 0;
    for (let slot = 0; slot < this.slots; slot += 1) {
      if (!this.alive(slot)) continue;
      remap[slot] = next;
      flags[next] = this.slotFlags[slot];
      idHi[next] = this.slotIdHi[slot];
      idLo[next] = this.slotIdLo[slot];
      next += 1;
    }
    // Keys first: rebuildKeys reads liveness from the old slots.
    this.rebuildKeys(remap);
    this.slotFlags = flags;
    this.slotIdHi = idHi;
    this.slotIdLo = idLo;
    this.slots = next;
    this.dead = 0;
    this.rebuildIds(capacityFor(this.live));
  }
}

/** `smtp:` + address, exactly */
const sameAddress = (proxy: string, address: string) => proxy.length === address.length + 5 && proxy.endsWith(address);

function grow<T extends Uint8Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
