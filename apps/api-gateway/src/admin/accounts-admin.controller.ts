import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { isUUID } from 'class-validator';
import { Caller, Roles } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import { AccountsAdminService, type UserResponse } from './accounts-admin.service';
import { CreateKeyDto, CreateUserDto } from './admin.dto';
import type { KeyView } from './admin-views';

@Controller('api/v1/ai/admin')
@Roles('admin')
export class AccountsAdminController {
  constructor(private readonly accounts: AccountsAdminService) {}

  @Post('users')
  @HttpCode(201)
  createUser(@Body() dto: CreateUserDto, @Caller() auth: AuthContext): Promise<UserResponse> {
    return this.accounts.createUser(dto, auth);
  }

  @Get('users')
  listUsers(): Promise<{ data: UserResponse[] }> {
    return this.accounts.listUsers();
  }

  @Post('keys')
  @HttpCode(201)
  createKey(@Body() dto: CreateKeyDto, @Caller() auth: AuthContext): Promise<KeyView & { key: string }> {
    return this.accounts.createKey(dto, auth);
  }

  /** Every key, or `?userId=` one user's; never a secret. */
  @Get('keys')
  listKeys(@Query('userId') userId: string | undefined): Promise<{ data: KeyView[] }> {
    if (userId !== undefined && !isUUID(userId)) {
      // Not an empty list: a user id that cannot exist is a mistake the caller should hear about.
      throw new GatewayError(ErrorCode.InvalidRequest, 'userId must be a user id (a UUID).', { param: 'userId' });
    }
    return this.accounts.listKeys(userId);
  }

  @Delete('keys/:id')
  revokeKey(@Param('id') id: string, @Caller() auth: AuthContext): Promise<KeyView> {
    return this.accounts.revokeKey(id, auth);
  }
}
