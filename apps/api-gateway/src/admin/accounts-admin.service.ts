import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError, keyExpiryOf, type TierTable } from '@aigw/core';
import { ApiKeyStore, DuplicateUserError, UserStore, type UserView } from '@aigw/entities';
import { AuthChanges } from '../auth/auth-changes';
import { TIERS } from '../auth/tiers.provider';
import type { AuthContext } from '../http/request-context';
import type { CreateKeyDto, CreateUserDto } from './admin.dto';
import {
  DEFAULT_LIST_LIMIT,
  listPage,
  positionOf,
  type KeyListQueryDto,
  type ListPage,
  type UserListQueryDto,
} from './admin-page';
import { actorOf, keyView, type KeyView } from './admin-views';

export interface UserResponse {
  id: string;
  name: string;
  tier: string;
  createdAt: string;
}

function userResponse(u: UserView): UserResponse {
  return { id: u.id, name: u.name, tier: u.tier, createdAt: new Date(u.createdAt).toISOString() };
}

/** Users and their API keys, for admins; every change audited by the stores in its own transaction. */
@Injectable()
export class AccountsAdminService {
  constructor(
    private readonly users: UserStore,
    private readonly keys: ApiKeyStore,
    @Inject(TIERS) private readonly tiers: TierTable,
    private readonly authChanges: AuthChanges,
  ) {}

  async createUser(dto: CreateUserDto, auth: AuthContext): Promise<UserResponse> {
    const tier = dto.tier ?? 'default';
    assertKnownTier(this.tiers, tier);
    try {
      return userResponse(await this.users.create({ name: dto.name, tier }, actorOf(auth)));
    } catch (err) {
      if (err instanceof DuplicateUserError) {
        throw new GatewayError(ErrorCode.Conflict, `A user named '${dto.name}' already exists.`, {
          param: 'name',
          cause: err,
        });
      }
      throw err;
    }
  }

  async listUsers(q: UserListQueryDto): Promise<ListPage<UserResponse>> {
    const order = q.order ?? 'asc';
    const after = positionOf(q.cursor, order);
    return listPage(
      await this.users.page({ limit: q.limit ?? DEFAULT_LIST_LIMIT, after, order, namePrefix: q.q }),
      userResponse,
      order,
    );
  }

  /** The key is in this answer only: it is stored as a hash. */
  async createKey(dto: CreateKeyDto, auth: AuthContext): Promise<KeyView & { key: string }> {
    let expiresAt: Date | null = null;
    // Null, as a key without an expiry lists it, is none (it read as 1970 and was refused as "in the past").
    if (dto.expiresAt !== undefined && dto.expiresAt !== null) {
      // The DTO checked the form; never a key without the expiry asked for, should the two rules part.
      expiresAt = keyExpiryOf(dto.expiresAt);
      if (expiresAt === null || expiresAt.getTime() <= Date.now()) {
        throw new GatewayError(ErrorCode.InvalidRequest, "Invalid 'expiresAt': it must lie in the future.", {
          param: 'expiresAt',
        });
      }
    }
    const created = await this.keys.createForUser(
      {
        userId: dto.userId,
        role: dto.role ?? 'user',
        name: dto.name ?? null,
        expiresAt,
        allowedModels: dto.allowedModels === undefined ? null : [...new Set(dto.allowedModels)],
        rpm: dto.rpm ?? null,
        tpm: dto.tpm ?? null,
      },
      actorOf(auth),
    );
    if (created === null) {
      throw new GatewayError(ErrorCode.NotFound, `No user with id '${dto.userId}'.`, { param: 'userId' });
    }
    return { ...keyView(created.info), key: created.key };
  }

  async listKeys(q: KeyListQueryDto): Promise<ListPage<KeyView>> {
    const order = q.order ?? 'asc';
    const after = positionOf(q.cursor, order);
    return listPage(
      await this.keys.page({ userId: q.userId, limit: q.limit ?? DEFAULT_LIST_LIMIT, after, order }),
      keyView,
      order,
    );
  }

  /**
   * Takes effect on this replica before the answer, on the others when `auth.changed` reaches them (milliseconds;
   * AUTH_CACHE_TTL_MS, how long each caches key lookups, should the message be lost).
   */
  async revokeKey(id: string, auth: AuthContext): Promise<KeyView> {
    const revoked = await this.keys.revokeById(id, actorOf(auth));
    if (revoked === null) {
      throw new GatewayError(ErrorCode.NotFound, `No key with id '${id}'.`, { param: 'id' });
    }
    this.authChanges.changed(revoked.userId);
    return keyView(revoked);
  }
}

export function assertKnownTier(tiers: TierTable, tier: string): void {
  if (!Object.hasOwn(tiers, tier)) {
    throw new GatewayError(
      ErrorCode.InvalidRequest,
      `Invalid 'tier': '${tier}' is not a configured tier (one of ${Object.keys(tiers).join(', ')}).`,
      { param: 'tier' },
    );
  }
}
