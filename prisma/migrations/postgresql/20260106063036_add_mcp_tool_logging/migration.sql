-- CreateTable
CREATE TABLE "McpToolLog" (
    "id" SERIAL NOT NULL,
    "toolName" TEXT NOT NULL,
    "input" TEXT NOT NULL,
    "output" TEXT,
    "success" BOOLEAN NOT NULL DEFAULT true,
    "error" TEXT,
    "durationMs" INTEGER NOT NULL,
    "createdAt" BIGINT NOT NULL,

    CONSTRAINT "McpToolLog_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "McpToolLog_toolName_createdAt_idx" ON "McpToolLog"("toolName", "createdAt");
