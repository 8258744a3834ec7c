import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
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
    return this.accounts.listKeys(userId);
  }

  @Delete('keys/:id')
  revokeKey(@Param('id') id: string, @Caller() auth: AuthContext): Promise<KeyView> {
    return this.accounts.revokeKey(id, auth);
  }
}
