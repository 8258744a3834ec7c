import { Body, Controller, Delete, Get, Param, Put } from '@nestjs/common';
import { Caller } from '../auth/roles';
import type { AuthContext } from '../http/request-context';
import { PutPreferenceDto } from './preference.dto';
import { PreferencesService, type PreferenceView } from './preferences.service';
import { NoBody } from '../admin/action-body';

/** The caller's own model preferences (any role): `DELETE` without a context removes the default. */
@Controller('api/v1/ai/preferences')
export class PreferencesController {
  constructor(private readonly preferences: PreferencesService) {}

  @Get()
  list(@Caller() auth: AuthContext): Promise<{ data: PreferenceView[] }> {
    return this.preferences.list(auth);
  }

  @Put()
  put(@Body() dto: PutPreferenceDto, @Caller() auth: AuthContext): Promise<PreferenceView> {
    return this.preferences.put(dto, auth);
  }

  @Delete()
  @NoBody()
  removeDefault(@Caller() auth: AuthContext): Promise<{ context: string; deleted: true }> {
    return this.preferences.remove(undefined, auth);
  }

  @Delete(':context')
  @NoBody()
  remove(@Param('context') context: string, @Caller() auth: AuthContext): Promise<{ context: string; deleted: true }> {
    return this.preferences.remove(context, auth);
  }
}
