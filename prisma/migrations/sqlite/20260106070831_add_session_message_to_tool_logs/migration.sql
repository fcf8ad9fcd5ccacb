-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_McpToolLog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "toolName" TEXT NOT NULL,
    "input" TEXT NOT NULL,
    "output" TEXT,
    "success" BOOLEAN NOT NULL DEFAULT true,
    "error" TEXT,
    "durationMs" INTEGER NOT NULL,
    "sessionId" TEXT,
    "messageId" INTEGER,
    "createdAt" BIGINT NOT NULL,
    CONSTRAINT "McpToolLog_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES "Message" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_McpToolLog" ("createdAt", "durationMs", "error", "id", "input", "output", "success", "toolName") SELECT "createdAt", "durationMs", "error", "id", "input", "output", "success", "toolName" FROM "McpToolLog";
DROP TABLE "McpToolLog";
ALTER TABLE "new_McpToolLog" RENAME TO "McpToolLog";
CREATE INDEX "McpToolLog_toolName_createdAt_idx" ON "McpToolLog"("toolName", "createdAt");
CREATE INDEX "McpToolLog_sessionId_idx" ON "McpToolLog"("sessionId");
CREATE INDEX "McpToolLog_messageId_idx" ON "McpToolLog"("messageId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
