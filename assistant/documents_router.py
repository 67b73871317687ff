"""Documents, admin only: upload (multipart), list, get, delete, re-index a folder.

The collection is the profile's (``?model=NAME``, default profile) or given
with ``?collection=NAME``. A change is visible to the next chat request.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, File, Request, UploadFile

from assistant.auth import Principal
from assistant.deps import admin, collection_for, state
from assistant.documents_service import DocumentsService
from assistant.protocol import Document, DocumentDeleted, DocumentList, IngestResult, ReindexRequest

router = APIRouter(prefix="/v1/documents", tags=["documents"])


@router.post("", response_model=Document, status_code=201)
async def upload(request: Request, file: UploadFile = File(...), model: str | None = None,
                 collection: str | None = None, who: Principal = Depends(admin),
                 docs: DocumentsService = Depends(state("documents"))) -> Document:
    name = collection_for(request, who, model, collection)
    info = await to_thread.run_sync(docs.upload, name, file.filename or "", file.file)
    return Document(**info)


@router.get("", response_model=DocumentList)
async def list_documents(request: Request, model: str | None = None, collection: str | None = None,
                         who: Principal = Depends(admin),
                         docs: DocumentsService = Depends(state("documents"))) -> DocumentList:
    name = collection_for(request, who, model, collection)
    return DocumentList(data=[Document(**d) for d in await to_thread.run_sync(docs.list, name)])


@router.post("/reindex", response_model=IngestResult)
async def reindex(body: ReindexRequest, request: Request, who: Principal = Depends(admin),
                  docs: DocumentsService = Depends(state("documents"))) -> IngestResult:
    name = collection_for(request, who, body.model, body.collection)
    summary = await to_thread.run_sync(docs.reindex, name, body.path, body.prune)
    return IngestResult(**summary)


@router.get("/{document_id:path}", response_model=Document)
async def get_document(document_id: str, request: Request, model: str | None = None,
                       collection: str | None = None, who: Principal = Depends(admin),
                       docs: DocumentsService = Depends(state("documents"))) -> Document:
    name = collection_for(request, who, model, collection)
    return Document(**await to_thread.run_sync(docs.get, name, document_id))


@router.delete("/{document_id:path}", response_model=DocumentDeleted)
async def delete_document(document_id: str, request: Request, model: str | None = None,
                          collection: str | None = None, who: Principal = Depends(admin),
                          docs: DocumentsService = Depends(state("documents"))) -> DocumentDeleted:
    name = collection_for(request, who, model, collection)
    await to_thread.run_sync(docs.delete, name, document_id)
    return DocumentDeleted(id=document_id)
