-- Keep only the oldest default pack, so that the index below can be built on a
-- database where two packs ended up marked default (by hand).
UPDATE "Pack" SET "isDefault" = false
WHERE "isDefault" = true AND "id" <> (SELECT MIN("id") FROM "Pack" WHERE "isDefault" = true);

-- lint:allow unique-on-existing duplicates removed above; no release writes a second default
-- CreateIndex
CREATE UNIQUE INDEX "Pack_one_default" ON "Pack"("isDefault") WHERE "isDefault" = true;
