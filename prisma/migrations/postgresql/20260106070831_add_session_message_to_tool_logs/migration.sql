-- AlterTable
ALTER TABLE "McpToolLog" ADD COLUMN     "messageId" INTEGER,
ADD COLUMN     "sessionId" TEXT;

-- CreateIndex
CREATE INDEX "McpToolLog_sessionId_idx" ON "McpToolLog"("sessionId");

-- CreateIndex
CREATE INDEX "McpToolLog_messageId_idx" ON "McpToolLog"("messageId");

-- AddForeignKey
ALTER TABLE "McpToolLog" ADD CONSTRAINT "McpToolLog_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES "Message"("id") ON DELETE SET NULL ON UPDATE CASCADE;
