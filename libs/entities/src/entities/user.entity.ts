import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

@Entity({ name: 'users' })
@Unique('uq_users_name', ['name'])
@Index('ix_users_created_at_id', ['createdAt', 'id'])
// lower(name) text_pattern_ops, for the name search (migration UserNameSearch): TypeORM cannot describe an expression
// index, and without this line its schema diff would drop it.
@Index('ix_users_lower_name', { synchronize: false })
export class UserEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_users' })
  id: string;

  @Column({ type: 'text' })
  name: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
