import { Initial1795254620694 } from './1795254620694-Initial';
import { CacheWritePrice1795400000000 } from './1795400000000-CacheWritePrice';

/** Every migration, oldest first. Append new ones; never edit one that has shipped. */
export const MIGRATIONS = [Initial1795254620694, CacheWritePrice1795400000000] as const;
