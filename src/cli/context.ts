// What every subcommand starts from: the resolved paths and the loaded config.
import { resolvePaths, type SealmailPaths } from '../daemon/paths.js';
import { loadConfig, type SealmailConfig, type AccountConfig } from '../daemon/config.js';
import { UserError } from '../util/user-error.js';

export interface CliContext {
  paths: SealmailPaths;
  config: SealmailConfig | null;
}

export function cliContext(): CliContext {
  const paths = resolvePaths();
  return { paths, config: loadConfig(paths.configFile) };
}

export function requireConfig(ctx: CliContext): SealmailConfig {
  if (!ctx.config) throw new UserError(`no configuration yet (${ctx.paths.configFile}); run \`sealmail start\` for the quickstart or \`sealmail account create\``);
  return ctx.config;
}

export function findAccount(config: SealmailConfig, address?: string): AccountConfig {
  const account = address ? config.accounts.find((a) => a.address === address.toLowerCase()) : config.accounts[0];
  if (!account) throw new UserError(address ? `no account ${address} is configured` : 'no account is configured');
  return account;
}
