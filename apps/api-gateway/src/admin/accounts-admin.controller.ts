import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { Caller, Roles } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import { AccountsAdminService, type UserResponse } from './accounts-admin.service';
import { CreateKeyDto, CreateUserDto } from './admin.dto';
import { KeyListQueryDto, UserListQueryDto, type ListPage } from './admin-page';
import type { KeyView } from './admin-views';
import { NoBody } from './action-body';

@Controller('api/v1/ai/admin')
@Roles('admin')
export class AccountsAdminController {
  constructor(private readonly accounts: AccountsAdminService) {}

  @Post('users')
  @HttpCode(201)
  createUser(@Body() dto: CreateUserDto, @Caller() auth: AuthContext): Promise<UserResponse> {
    return this.accounts.createUser(dto, auth);
  }

  /** Oldest first, a page at a time (`?limit&cursor`); `?q=` those whose name starts with it. */
  @Get('users')
  listUsers(@Query() query: UserListQueryDto): Promise<ListPage<UserResponse>> {
    return this.accounts.listUsers(query);
  }

  @Post('keys')
  @HttpCode(201)
  createKey(@Body() dto: CreateKeyDto, @Caller() auth: AuthContext): Promise<KeyView & { key: string }> {
    return this.accounts.createKey(dto, auth);
  }

  /** Every key, or `?userId=` one user's, oldest first, a page at a time (`?limit&cursor`); never a secret. */
  @Get('keys')
  listKeys(@Query() query: KeyListQueryDto): Promise<ListPage<KeyView>> {
    return this.accounts.listKeys(query);
  }

  @Delete('keys/:id')
  @NoBody()
  revokeKey(@Param('id') id: string, @Caller() auth: AuthContext): Promise<KeyView> {
    return this.accounts.revokeKey(id, auth);
  }
}
