// evidence · evidence verify — a signed pack of what happened in one migration,
// for auditors and change boards, and its check (docs/auditors.md).
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../user-error';

export function registerEvidenceCommands(program: Command, runtime: CommandRuntime): void {
  const evidence = program
    .command('evidence')
    .description('write one signed archive (tar.gz) of who did what in a migration, for auditors; `evidence verify <file>` checks one')
    .option('--migration-id <id>', 'the source or target migration id')
    .option('--out <file>', 'the archive to write, e.g. evidence.tar.gz (never overwritten)')
    .action(async (opts: { migrationId?: string; out?: string }) => {
      if (!opts.migrationId || !opts.out) throw new UserError('evidence needs --migration-id <id> and --out <file> (or: evidence verify <file>)');
      const [{ describeError }, { collectEvidence }, { checkOutput, writePack }, { loadSigner }, { evidenceSettings }, { gatewayKeysForPack }] = await Promise.all([
        import('../../errors'),
        import('../../evidence/collect'),
        import('../../evidence/pack'),
        import('../../evidence/signing'),
        import('../../evidence/sandbox-key'),
        import('../../evidence/proofs'),
      ]);
      const context = runtime.context();
      // Everything that can be refused without the servers is refused first: no work, no file.
      // The configured key; in the sandbox, the key `npm start` made in the data folder.
      const signer = loadSigner(evidenceSettings(context.config));
      const out = checkOutput(opts.out);
      let actor: string | undefined;
      try {
        actor = context.actor();
      } catch {
        // Without an acting admin the pack has counts, not lists of people.
        actor = undefined;
      }
      const collected = await collectEvidence(opts.migrationId, {
        client: await context.client(),
        migrations: await context.migrations(),
        service: await context.service(),
        auditLog: await context.auditLog().catch((err: Error) => ({ unavailable: describeError(err) })),
        ...(context.config.backend === 'simulated' ? { controlPlane: await context.controlPlane() } : {}),
        ...(actor ? { actor } : {}),
        gatewayKeys: () => gatewayKeysForPack(context.config.signIn),
      });
      const written = await writePack(out, collected, signer);
      const { facts } = collected;
      const printer = runtime.printer();
      printer.document({
        file: written.file,
        bytes: written.bytes,
        sha256: written.sha256,
        migrationId: facts.migrationId,
        targetMigrationId: facts.targetMigrationId,
        phase: facts.phase,
        running: facts.running,
        state: facts.state,
        parts: written.manifest.parts.length,
        runs: facts.runs,
        prepares: facts.prepares,
        refusedActions: facts.refusedActions,
        usersRemapped: facts.usersRemapped,
        usersListed: facts.usersListed,
        signature: { algorithm: signer.algorithm, keyId: signer.keyId },
      });
      printer.line(`Evidence pack written: ${written.file} (${written.bytes} bytes, SHA-256 ${written.sha256})`);
      printer.line(facts.running ? `Migration ${facts.migrationId} is still running: the pack is marked "${facts.state}"` : `Migration ${facts.migrationId}: ${facts.state}`);
      printer.line(`${written.manifest.parts.length} parts signed (${signer.algorithm}, key ${signer.keyId}); ${facts.runs} run(s) of history, ${facts.prepares} prepare round(s), ${facts.refusedActions} refused action(s)`);
      printer.line(`Re-mapped users: ${facts.usersRemapped ?? 'none yet'}${facts.usersListed ? ' (listed)' : ' (not listed: see users/summary.json)'}`);
      printer.line(`Check it with: t2t evidence verify ${opts.out}`);
    });

  evidence
    .command('verify')
    .description("check an evidence pack: the manifest's signature, every part's SHA-256 and the gateway's signature on every signed action; names the first part or entry that fails")
    .argument('<file>', 'the evidence pack (tar.gz)')
    .option('--gateway-keys <file>', "the gateway's published keys (what its GET /v1/keys answers) to check the actions' proofs with; default: the ones in the pack")
    .action(async (file: string, opts: { gatewayKeys?: string }) => {
      const [{ verifyPack }, { loadVerifier }, { evidenceSettings }, { verifyPackProofs }] = await Promise.all([
        import('../../evidence/pack'),
        import('../../evidence/signing'),
        import('../../evidence/sandbox-key'),
        import('../../evidence/proofs'),
      ]);
      const verifier = loadVerifier(evidenceSettings(runtime.context().config));
      const verified = await verifyPack(file, verifier);
      const proofs = verifyPackProofs(verified, opts.gatewayKeys);
      const printer = runtime.printer();
      printer.document({
        verified: true,
        parts: verified.parts,
        signedBy: verified.keyId,
        algorithm: verified.manifest.signature.algorithm,
        migrationId: verified.manifest.migrationId,
        running: verified.manifest.running,
        state: verified.manifest.state,
        generatedAt: verified.manifest.generatedAt,
        actions: { signed: proofs.signed, unsigned: proofs.unsigned, refusedWithUnverifiedProof: proofs.refusedUnverified, gatewayKeysFrom: proofs.keysFrom ?? null },
      });
      printer.line(`verified: ${verified.parts} parts, signed by ${verified.keyId}`);
      printer.line(
        `actions: ${proofs.signed} signed by the gateway${proofs.keysFrom ? ` (checked against ${proofs.keysFrom})` : ''}, ${proofs.unsigned} unsigned` +
          (proofs.refusedUnverified > 0 ? `, ${proofs.refusedUnverified} refused carrying a proof that does not verify` : ''),
      );
      printer.line(`migration ${verified.manifest.migrationId}: ${verified.manifest.state} (pack made ${verified.manifest.generatedAt})`);
    });
}
